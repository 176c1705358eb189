"""Importing a release exported by the main deployment: verified before anything is
published (the manifest's signature by a trusted key, each bundle's length and hashes), then
its bundles are published in this deployment's own Image repository and the release is
recorded as approved, with the approvals that came with it (docs/isolated-markets.md)."""

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from securesystemslib.signer import SSlibKey

from audit.services import audit_record
from compliance.models import ImpactAssessment, MarketApproval, RxswinEntry
from federation.package import MANIFEST, SIGNATURE, PackageError, parse_manifest
from rollouts.models import Release, ReleaseBundle, ReleaseStatus
from rollouts.services.releases import release_request_copies, release_request_deltas
from signing.models import Bundle, BundleStatus
from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish
from signing.uploads import digest_stream
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


def _check_bundle_file(folder: Path, entry: dict) -> None:
    path = folder / entry["file"]
    if not path.is_file():
        raise PackageError(f"{entry['path']}: its file {entry['file']} is missing")
    with path.open("rb") as handle:
        found = digest_stream(handle)
    if not found.matches(length=entry["length"], sha256=entry["sha256"], sha512=entry["sha512"]):
        raise PackageError(f"{entry['path']}: the file does not match its length and hashes")


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
    data = (folder / MANIFEST).read_bytes()
    signature = (folder / SIGNATURE).read_bytes() if (folder / SIGNATURE).exists() else b""
    verify_signature(data, signature)
    manifest = parse_manifest(data)
    ours = set(settings.OTA_REGIONS)
    if not ours & set(manifest["markets"]):
        raise PackageError(f"exported for {manifest['markets']}, this deployment serves {ours}")
    for entry in manifest["bundles"]:
        _check_bundle_file(folder, entry)
    if Release.objects.filter(version=manifest["release"]["version"]).exists():
        raise PackageError(f"release {manifest['release']['version']} exists here already")
    return _publish(folder, manifest)


@transaction.atomic
def _publish(folder: Path, manifest: dict) -> Imported:
    source = str(manifest.get("source") or "main")[:60]
    bundles, published = [], 0
    for entry in manifest["bundles"]:
        bundle = Bundle.objects.filter(path=entry["path"]).first()
        if bundle is not None and bundle.sha256 != entry["sha256"]:
            raise PackageError(f"{entry['path']} exists here with other bytes")
        if bundle is None:
            spec = BundleSpec(
                path=entry["path"],
                hardware_id=entry["hardware_id"],
                version=entry["version"],
                release_counter=entry["release_counter"],
            )
            with (folder / entry["file"]).open("rb") as handle:
                bundle = bundle_ingest_file(spec=spec, stream=handle, actor=None)
        if bundle.status != BundleStatus.PUBLISHED:
            bundle, _ = bundle_publish(bundle=bundle, actor=None)
            published += 1
        bundles.append((bundle, entry.get("requires") or {}))
    info = manifest["release"]
    markets = [m for m in manifest["markets"] if m in settings.OTA_REGIONS]
    approvals = [a for a in manifest.get("market_approvals", []) if a.get("market") in markets]
    release = Release.objects.create(
        version=info["version"][:64],
        notes=f"Imported from {source}. {info.get('notes', '')}"[:20000],
        model_names=info.get("models") or [],
        regions=info.get("regions") or [],
        install_policy=info.get("install_policy") or {},
        status=ReleaseStatus.APPROVED,
        created_by=_person(source, str(info["author"])),
        approved_by=_person(source, str(info["approved_by"])),
        approved_at=parse_datetime(info["approved_at"]) or timezone.now(),
        approved_markets=sorted(a["market"] for a in approvals),
    )
    ReleaseBundle.objects.bulk_create(
        ReleaseBundle(release=release, bundle=b, hardware_id=b.hardware_id, requires=r)
        for b, r in bundles
    )
    for entry in manifest.get("rxswins", []):
        if entry.get("market") in markets:
            RxswinEntry.objects.get_or_create(
                model=entry["model"][:64],
                market=entry["market"],
                rxswin=entry["rxswin"][:64],
                defaults={"note": f"Imported from {source}. {entry.get('note', '')}"[:5000]},
            )
    for approval in approvals:
        row = MarketApproval.objects.create(
            release=release,
            market=approval["market"],
            approved_by=_person(source, str(approval["approved_by"])),
            note=f"Approved in {source} at {approval['approved_at']}. {approval.get('note', '')}",
        )
        ImpactAssessment.objects.bulk_create(
            ImpactAssessment(
                approval=row,
                model=a["model"][:64],
                affects_type_approval=bool(a["affects_type_approval"]),
                rationale=a["rationale"],
                rxswin_before=a.get("rxswin_before", "")[:64],
                new_rxswin=a.get("new_rxswin", "")[:64],
            )
            for a in approval.get("assessments", [])
        )
        for a in approval.get("assessments", []):
            if a["affects_type_approval"]:
                RxswinEntry.objects.get_or_create(
                    model=a["model"][:64],
                    market=approval["market"],
                    rxswin=a["new_rxswin"][:64],
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
            "manifest_sha256": _sha256(folder / MANIFEST),
        },
    )
    release_request_copies(release=release)
    release_request_deltas(release=release)
    return Imported(release=release, source=source, bundles_published=published)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def describe(imported: Imported) -> str:
    return json.dumps(
        {
            "release": imported.release.version,
            "source": imported.source,
            "bundles_published": imported.bundles_published,
            "approved_markets": imported.release.approved_markets,
        }
    )
