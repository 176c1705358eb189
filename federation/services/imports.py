"""Importing a release exported by the main deployment: verified before anything is
published (the manifest's signature by a trusted key, every field as the management API would
check it, each bundle's length and hashes), then its bundles are published in this
deployment's own Image repository and the release is recorded as approved, with the approvals
that came with it (docs/isolated-markets.md)."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from securesystemslib.signer import SSlibKey

from audit.services import audit_record
from compliance.models import ImpactAssessment, MarketApproval, RxswinEntry
from federation.folder import ExportFolder
from federation.package import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    MAX_SIGNATURE_BYTES,
    SIGNATURE,
    PackageError,
    parse_manifest,
)
from rollouts.models import Release, ReleaseBundle, ReleaseStatus
from rollouts.services.releases import release_request_copies, release_request_deltas
from signing.models import Bundle, BundleStatus
from signing.services.bundles import (
    BundleSpec,
    StoredBlob,
    blob_discard,
    blob_store,
    bundle_ingest_stored,
    bundle_publish,
)
from signing.verify import signature_verifies


@dataclass(frozen=True)
class Imported:
    release: Release
    source: str
    bundles_published: int


def trusted_keys() -> list[SSlibKey]:
    """The main deployment's `releases` export keys this deployment trusts (PEM files)."""
    return [
        SSlibKey.from_crypto(serialization.load_pem_public_key(Path(path).read_bytes()))
        for path in settings.OTA_RELEASE_IMPORT_KEYS
    ]


def verify_signature(data: bytes, signature: bytes) -> None:
    """By one of the trusted keys, checked as the poll checks what cars sign."""
    for key in trusted_keys():
        entry = {"keyid": key.keyid, "sig": signature.hex()}
        if signature_verifies(key.keyid, key.to_dict(), [entry], data):
            return
    raise PackageError("the manifest's signature is not by a trusted key (OTA_RELEASE_IMPORT_KEYS)")


def _store_bundle_file(export: ExportFolder, entry: dict) -> StoredBlob:
    """Read the bundle's file once, into storage, and compare the digests of what was stored
    with the signed manifest: what the file holds before or after that read does not matter."""
    with export.open(entry["file"]) as handle:
        blob = blob_store(stream=handle, limit=entry["length"] + 1)  # one more tells a longer file
    if not blob.digests.matches(
        length=entry["length"], sha256=entry["sha256"], sha512=entry["sha512"]
    ):
        blob_discard(blob)
        raise PackageError(f"{entry['path']}: the file does not match its length and hashes")
    return blob


def _person(source: str, username: str) -> User:
    """Who approved it in the main deployment, as a record here: never a login."""
    user, created = User.objects.get_or_create(
        username=f"{username}@{source}"[:150], defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def release_import(*, folder: Path) -> Imported:
    """Verify the export in `folder` in full, then publish it; PackageError says why not."""
    with ExportFolder(folder) as export:
        data = export.read(MANIFEST, limit=MAX_MANIFEST_BYTES)
        verify_signature(data, export.read(SIGNATURE, limit=MAX_SIGNATURE_BYTES))
        manifest = parse_manifest(data, max_bundle_bytes=settings.OTA_MAX_BUNDLE_BYTES)
        ours = set(settings.OTA_REGIONS)
        if not ours & set(manifest["markets"]):
            raise PackageError(f"exported for {manifest['markets']}, this deployment serves {ours}")
        if Release.objects.filter(version=manifest["release"]["version"]).exists():
            raise PackageError(f"release {manifest['release']['version']} exists here already")
        blobs: list[StoredBlob] = []
        try:
            for entry in manifest["bundles"]:
                blobs.append(_store_bundle_file(export, entry))
            return _publish(manifest, blobs, manifest_sha256=hashlib.sha256(data).hexdigest())
        except BaseException:
            for blob in blobs:  # those a bundle took are gone from there: nothing to delete
                blob_discard(blob)
            raise


@transaction.atomic
def _publish(manifest: dict, blobs: list[StoredBlob], *, manifest_sha256: str) -> Imported:
    source = manifest.get("source") or "main"
    bundles, published = [], 0
    for entry, blob in zip(manifest["bundles"], blobs, strict=True):
        bundle = Bundle.objects.filter(path=entry["path"]).first()
        wanted = (entry["sha256"], entry["hardware_id"])
        if bundle is not None and (bundle.sha256, bundle.hardware_id) != wanted:
            raise PackageError(f"{entry['path']} exists here with other bytes or hardware id")
        if bundle is None:
            spec = BundleSpec(
                path=entry["path"],
                hardware_id=entry["hardware_id"],
                version=entry["version"],
                release_counter=entry["release_counter"],
            )
            bundle = bundle_ingest_stored(spec=spec, blob=blob, actor=None)
        else:
            blob_discard(blob)
        if bundle.status != BundleStatus.PUBLISHED:
            bundle, _ = bundle_publish(bundle=bundle, actor=None)
            published += 1
        bundles.append((bundle, entry.get("requires") or {}))
    info = manifest["release"]
    markets = [m for m in manifest["markets"] if m in settings.OTA_REGIONS]
    approvals = [a for a in manifest.get("market_approvals", []) if a["market"] in markets]
    try:
        with transaction.atomic():
            release = Release.objects.create(
                version=info["version"],
                notes=f"Imported from {source}. {info.get('notes', '')}"[:20000],
                model_names=info.get("models", []),
                regions=info.get("regions", []),
                install_policy=info["install_policy"],
                status=ReleaseStatus.APPROVED,
                created_by=_person(source, info["author"]),
                approved_by=_person(source, info["approved_by"]),
                approved_at=datetime.fromisoformat(info["approved_at"]),
                approved_markets=sorted(a["market"] for a in approvals),
            )
    except IntegrityError:  # imported a moment ago, by another operator
        raise PackageError(f"release {info['version']} exists here already") from None
    ReleaseBundle.objects.bulk_create(
        ReleaseBundle(release=release, bundle=b, hardware_id=b.hardware_id, requires=r)
        for b, r in bundles
    )
    for entry in manifest.get("rxswins", []):
        if entry["market"] in markets:
            RxswinEntry.objects.get_or_create(
                model=entry["model"],
                market=entry["market"],
                rxswin=entry["rxswin"],
                defaults={"note": f"Imported from {source}. {entry.get('note', '')}"[:5000]},
            )
    for approval in approvals:
        row = MarketApproval.objects.create(
            release=release,
            market=approval["market"],
            approved_by=_person(source, approval["approved_by"]),
            note=f"Approved in {source} at {approval['approved_at']}. {approval.get('note', '')}",
        )
        ImpactAssessment.objects.bulk_create(
            ImpactAssessment(
                approval=row,
                model=a["model"],
                affects_type_approval=a["affects_type_approval"],
                rationale=a["rationale"],
                rxswin_before=a.get("rxswin_before", ""),
                new_rxswin=a.get("new_rxswin", ""),
            )
            for a in approval.get("assessments", [])
        )
        for a in approval.get("assessments", []):
            if a["affects_type_approval"]:
                RxswinEntry.objects.get_or_create(
                    model=a["model"],
                    market=approval["market"],
                    rxswin=a["new_rxswin"],
                    defaults={"release": release},
                )
    audit_record(
        actor=None,
        actor_label=f"import from {source}",
        action="release.imported",
        target=release,
        data={
            "source": source,
            "markets": markets,
            "bundles": [b.path for b, _ in bundles],
            "manifest_sha256": manifest_sha256,
        },
    )
    release_request_copies(release=release)
    release_request_deltas(release=release)
    return Imported(release=release, source=source, bundles_published=published)


def describe(imported: Imported) -> str:
    return json.dumps(
        {
            "release": imported.release.version,
            "source": imported.source,
            "bundles_published": imported.bundles_published,
            "approved_markets": imported.release.approved_markets,
        }
    )
