"""What an isolated deployment sends back, and only when an operator runs it: counts per
release and market (offers, installs, failures, time-outs, deferrals, reverts) and the
fleet's size, with no VIN, no vehicle and no telemetry; signed with its `releases` key."""

import json
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from audit.services import audit_record
from compliance.models import EvidenceRecord, KeyPurpose
from compliance.services.keys import export_key_active, export_sign
from rollouts.models import Vehicle

FORMAT = "ota-aggregates/1"


def aggregates_export(*, out: Path, since: datetime | None = None) -> dict:
    records = EvidenceRecord.objects.all()
    if since is not None:
        records = records.filter(at__gte=since)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for version, market, kind, n in (
        records.values_list("release__version", "market", "kind")
        .annotate(n=Count("pk"))
        .order_by("release__version", "market", "kind")
    ):
        counts.setdefault((version, market), {})[kind] = n
    report = {
        "format": FORMAT,
        "source": settings.OTA_DEPLOYMENT_NAME,
        "generated_at": timezone.now().isoformat(),
        "since": since.isoformat() if since else None,
        "vehicles": dict(
            Vehicle.objects.values_list("region").annotate(n=Count("pk")).order_by("region")
        ),
        "releases": [
            {"release": version, "market": market, "counts": kinds}
            for (version, market), kinds in counts.items()
        ],
    }
    data = json.dumps(report, indent=1, sort_keys=True).encode("utf-8")
    key = export_key_active(KeyPurpose.RELEASES)
    out.write_bytes(data)
    out.with_name(out.name + ".sig").write_bytes(export_sign(key, data))
    audit_record(
        actor=None,
        actor_label="aggregates export",
        action="aggregates.exported",
        target=key,
        data={"file": out.name, "releases": len(report["releases"])},
    )
    return report
