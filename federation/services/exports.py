"""Exporting an approved release for an isolated market's own deployment: its bundles, what
the Image repository says of them, its approvals and the market's RXSWIN register, signed
with the `releases` export key (docs/isolated-markets.md)."""

import json
import shutil
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from audit.services import audit_record
from compliance.models import KeyPurpose, MarketApproval, RxswinEntry
from compliance.services.keys import export_key_active, export_sign
from federation.package import FORMAT, MANIFEST, SIGNATURE
from ota.errors import Conflict
from rollouts.models import Release, ReleaseStatus
from rollouts.selectors import release_markets
from signing import storage


class ReleaseNotExportable(Conflict):
    code = "release_not_exportable"
    message = "Only an approved release leaves, for markets it targets and is approved for there."


def release_export(*, release: Release, markets: list[str], out: Path, actor=None) -> Path:
    """Write `out/release.json`, its signature and `out/bundles/<sha256>`; answer `out`."""
    if release.status != ReleaseStatus.APPROVED:
        raise ReleaseNotExportable(detail={"release": release.version, "status": release.status})
    outside = [m for m in markets if m not in release_markets(release)]
    if outside or not markets:
        raise ReleaseNotExportable(
            detail={"release": release.version, "not_targeted": outside or markets}
        )
    missing = [
        m
        for m in markets
        if m in settings.OTA_TYPE_APPROVAL_MARKETS and m not in release.approved_markets
    ]
    if missing:
        raise ReleaseNotExportable(detail={"release": release.version, "unapproved": missing})
    out.mkdir(parents=True, exist_ok=True)
    (out / "bundles").mkdir(exist_ok=True)
    home = storage.bundle_storage()
    items = list(release.items.select_related("bundle"))
    for item in items:
        target = out / "bundles" / item.bundle.sha256
        with home.open(item.bundle.blob_name, "rb") as source, target.open("wb") as copy:
            shutil.copyfileobj(source, copy, 1024 * 1024)
    manifest = {
        "format": FORMAT,
        "source": settings.OTA_DEPLOYMENT_NAME,
        "exported_at": timezone.now().isoformat(),
        "markets": markets,
        "release": {
            "version": release.version,
            "notes": release.notes,
            "models": release.model_names,
            "regions": release.regions,
            "install_policy": release.install_policy,
            "author": release.created_by.get_username(),
            "approved_by": release.approved_by.get_username(),
            "approved_at": release.approved_at.isoformat(),
        },
        "market_approvals": [
            {
                "market": approval.market,
                "approved_by": approval.approved_by.get_username(),
                "approved_at": approval.approved_at.isoformat(),
                "note": approval.note,
                "assessments": [
                    {
                        "model": a.model,
                        "affects_type_approval": a.affects_type_approval,
                        "rationale": a.rationale,
                        "rxswin_before": a.rxswin_before,
                        "new_rxswin": a.new_rxswin,
                    }
                    for a in approval.assessments.all()
                ],
            }
            for approval in MarketApproval.objects.filter(release=release, market__in=markets)
            .select_related("approved_by")
            .prefetch_related("assessments")
        ],
        "rxswins": [
            {"model": e.model, "market": e.market, "rxswin": e.rxswin, "note": e.note}
            for e in RxswinEntry.objects.filter(market__in=markets, release=None).order_by(
                "recorded_at", "pk"
            )
        ],
        "bundles": [
            {
                "path": item.bundle.path,
                "hardware_id": item.bundle.hardware_id,
                "version": item.bundle.version,
                "release_counter": item.bundle.release_counter,
                "length": item.bundle.length,
                "sha256": item.bundle.sha256,
                "sha512": item.bundle.sha512,
                "requires": item.requires,
                "file": f"bundles/{item.bundle.sha256}",
            }
            for item in items
        ],
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    key = export_key_active(KeyPurpose.RELEASES)
    (out / MANIFEST).write_bytes(data)
    (out / SIGNATURE).write_bytes(export_sign(key, data))
    audit_record(
        actor=actor,
        actor_label="" if actor else "release export",
        action="release.exported",
        target=release,
        data={"markets": markets, "key": key.keyid, "bundles": len(items)},
    )
    return out
