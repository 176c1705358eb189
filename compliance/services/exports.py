"""Signed evidence exports, per VIN, per release, or per market and period, as JSON or CSV.

An export is three files an auditor keeps together: the export, its SHA-256 line in
`sha256sum` form, and a signature of that line by the evidence key. The key's public half is
published (GET /api/v1/export-keys); docs/operations.md gives the two commands that verify
an export with nothing but OpenSSL and coreutils. Signing the short line rather than the file
keeps exports of any size verifiable (Ed25519 cannot sign a stream; KMS signs 4 KiB)."""

import csv
import hashlib
import io
import json
import logging
import tempfile
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from compliance.models import (
    EXPORT_LIFECYCLE,
    EvidenceExport,
    EvidenceRecord,
    ExportFormat,
    ExportScope,
    ExportStatus,
    KeyPurpose,
    MarketApproval,
)
from compliance.services.approvals import UnknownMarket
from compliance.services.keys import export_key_active, export_sign
from ota.errors import Malformed, Unprocessable
from rollouts.models import Release, Vehicle
from rollouts.vin import normalize_vin
from signing.services.stalled import long_task_stalled_after, resume_stalled

logger = logging.getLogger(__name__)

CHUNK = 2000
CSV_COLUMNS = [
    "vin",
    "model",
    "market",
    "at",
    "kind",
    "reason",
    "release",
    "rollout",
    "rxswin_before",
    "rxswin_after",
    "release_author",
    "release_approved_by",
    "release_approved_at",
    "market_approved_by",
    "market_approved_at",
    "affects_type_approval",
    "assessment_rationale",
]


class InvalidExportScope(Malformed):
    code = "invalid_export_scope"
    message = "Name a VIN, a release, or a market with a period (from before to)."


class UnknownRelease(Unprocessable):
    code = "unknown_release"
    message = "No release has this id."


class UnknownVin(Unprocessable):
    code = "unknown_vin"
    message = "No vehicle and no evidence has this VIN."


def storage():
    return storages["evidence"]


# --- exports ------------------------------------------------------------------------------------


def _records(export: EvidenceExport):
    found = EvidenceRecord.objects.all()
    if export.scope == ExportScope.VIN:
        found = found.filter(vin=export.vin)
    elif export.scope == ExportScope.RELEASE:
        found = found.filter(release_id=export.release_id)
    else:
        found = found.filter(
            market=export.market, at__gte=export.period_from, at__lt=export.period_to
        )
    # In the order the server recorded them: `at` is when it happened, by the car's clock
    # for what a car reports, and two clocks need not agree to the millisecond.
    return found.order_by("pk")


@transaction.atomic
def evidence_export_request(
    *,
    scope: str,
    format: str,
    actor,
    vin: str = "",
    release_id: int | None = None,
    market: str = "",
    period_from: datetime | None = None,
    period_to: datetime | None = None,
) -> EvidenceExport:
    """Queue an export; it is built on the long queue (a market's year is millions of rows).
    It names something real (else 422): a market, a release, or a VIN with a vehicle or with
    evidence, so that no one is handed a signed, empty record of a car that has history."""
    vin = normalize_vin(vin)
    ok = {
        ExportScope.VIN: bool(vin),
        ExportScope.RELEASE: release_id is not None,
        ExportScope.MARKET: bool(market and period_from and period_to and period_from < period_to),
    }.get(scope, False)
    if not ok or format not in ExportFormat.values:
        raise InvalidExportScope(detail={"scope": scope, "format": format})
    release = None
    if scope == ExportScope.VIN:
        _known_vin(vin)
    elif scope == ExportScope.RELEASE:
        release = Release.objects.filter(pk=release_id).first()
        if release is None:
            raise UnknownRelease(detail={"release": release_id})
    else:
        _known_market(market)
    export = EvidenceExport.objects.create(
        scope=scope,
        vin=vin if scope == ExportScope.VIN else "",
        release=release,
        market=market if scope == ExportScope.MARKET else "",
        period_from=period_from if scope == ExportScope.MARKET else None,
        period_to=period_to if scope == ExportScope.MARKET else None,
        format=format,
        requested_by=actor,
        status_changed_at=timezone.now(),
    )
    export.expected_rows = _records(export).count()
    export.file_name = _file_name(export)
    export.save(update_fields=["expected_rows", "file_name"])
    audit_record(
        actor=actor,
        action="evidence.export_requested",
        target=export,
        data={"scope": scope, "file": export.file_name, "rows": export.expected_rows},
    )
    transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _known_vin(vin: str) -> None:
    # Evidence outlives the vehicle's row: a car that was scrapped still has its history.
    if not (
        Vehicle.objects.filter(vin=vin).exists() or EvidenceRecord.objects.filter(vin=vin).exists()
    ):
        raise UnknownVin(detail={"vin": vin})


def _known_market(market: str) -> None:
    # A market since dropped from OTA_REGIONS keeps its evidence for the retention period.
    if (
        market not in settings.OTA_REGIONS
        and not EvidenceRecord.objects.filter(market=market).exists()
    ):
        raise UnknownMarket(detail={"market": market, "markets": settings.OTA_REGIONS})


def _enqueue(export_id: int) -> None:
    async_task("compliance.tasks.build_export", export_id, cluster=settings.OTA_LONG_QUEUE)


def evidence_exports_resume(*, now: datetime | None = None) -> list[int]:
    """Queue again every export `building` for longer than the long queue lets a task run
    (lost with its task): it is written again from the start."""
    return resume_stalled(
        EvidenceExport,
        status=ExportStatus.BUILDING,
        after=long_task_stalled_after(),
        now=now or timezone.now(),
        enqueue=_enqueue,
    )


def _file_name(export: EvidenceExport) -> str:
    if export.scope == ExportScope.VIN:
        what = export.vin
    elif export.scope == ExportScope.RELEASE:
        what = f"release-{export.release.version}"
    else:
        what = f"{export.market}-{export.period_from:%Y%m%d}-{export.period_to:%Y%m%d}"
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in what)[:100]
    return f"evidence-{export.pk}-{safe}.{export.format}"


def evidence_export_build(*, export_id: int) -> EvidenceExport:
    export = EvidenceExport.objects.select_related("release").get(pk=export_id)
    if export.status != ExportStatus.BUILDING:
        return export
    try:
        with tempfile.TemporaryFile() as out:
            digest, rows = _write(export, out)
            out.seek(0)
            store = storage()
            if store.exists(export.file_name):
                store.delete(export.file_name)
            store.save(export.file_name, File(out))
        line = f"{digest}  {export.file_name}\n".encode("ascii")
        key = export_key_active(KeyPurpose.EVIDENCE)
        signature = export_sign(key, line)
    except Exception as exc:
        logger.exception("Evidence export %s failed", export.pk)
        why = f"{type(exc).__name__}: {exc}"[:2000]
        _built(export, ExportStatus.FAILED, failure=why)
        return EvidenceExport.objects.get(pk=export.pk)
    _built(
        export,
        ExportStatus.READY,
        finished_at=timezone.now(),
        rows=rows,
        sha256=digest,
        key=key,
        signature=signature,
    )
    return EvidenceExport.objects.get(pk=export.pk)


@transaction.atomic
def _built(export: EvidenceExport, to: str, **fields) -> None:
    """The build's end (EXPORT_LIFECYCLE) with its audit row, from the state we read; nothing
    when another run of the task ended it first."""
    EXPORT_LIFECYCLE.target("build", export.status, to)
    if EvidenceExport.objects.filter(pk=export.pk, status=export.status).update(
        status=to, status_changed_at=timezone.now(), **fields
    ):
        audit_record(
            actor=None,
            actor_label="evidence exporter",
            action=f"evidence.export_{to}",
            target=export,
            reason=fields.get("failure", ""),
            data={"rows": fields.get("rows")} if to == ExportStatus.READY else {},
        )


def digest_line(export: EvidenceExport) -> bytes:
    return f"{export.sha256}  {export.file_name}\n".encode("ascii")


class _Approvals:
    """The release's four-eyes approval and its market approval, read once per pair."""

    def __init__(self):
        self.releases: dict[int, Release] = {}
        self.markets: dict[tuple[int, str], MarketApproval | None] = {}

    def release(self, release_id: int) -> Release:
        if release_id not in self.releases:
            self.releases[release_id] = Release.objects.select_related(
                "created_by", "approved_by"
            ).get(pk=release_id)
        return self.releases[release_id]

    def market(self, release_id: int, market: str) -> MarketApproval | None:
        if (release_id, market) not in self.markets:
            self.markets[(release_id, market)] = (
                MarketApproval.objects.filter(release_id=release_id, market=market)
                .select_related("approved_by")
                .prefetch_related("assessments")
                .first()
            )
        return self.markets[(release_id, market)]

    def as_json(self) -> list[dict]:
        out = []
        for release in self.releases.values():
            markets = [a for (rid, _), a in sorted(self.markets.items()) if rid == release.pk and a]
            out.append(
                {
                    "release": release.version,
                    "author": release.created_by.get_username(),
                    "approved_by": release.approved_by.get_username()
                    if release.approved_by
                    else None,
                    "approved_at": _iso(release.approved_at),
                    "market_approvals": [
                        {
                            "market": a.market,
                            "approved_by": a.approved_by.get_username(),
                            "approved_at": _iso(a.approved_at),
                            "assessments": [
                                {
                                    "model": s.model,
                                    "affects_type_approval": s.affects_type_approval,
                                    "rationale": s.rationale,
                                    "rxswin_before": s.rxswin_before,
                                    "new_rxswin": s.new_rxswin,
                                }
                                for s in a.assessments.all()
                            ],
                        }
                        for a in markets
                    ],
                }
            )
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _write(export: EvidenceExport, out) -> tuple[str, int]:
    """Stream the records into `out`; answer the file's SHA-256 and the row count. Progress
    is written every CHUNK rows, outside any transaction, for the pages that show it."""
    sha = hashlib.sha256()

    def emit(text: str) -> None:
        data = text.encode("utf-8")
        sha.update(data)
        out.write(data)

    approvals = _Approvals()
    rows = 0
    is_csv = export.format == ExportFormat.CSV
    if is_csv:
        emit(_csv_line(CSV_COLUMNS))
    else:
        header = {
            "scope": export.scope,
            "vin": export.vin or None,
            "release": export.release.version if export.release else None,
            "market": export.market or None,
            "from": _iso(export.period_from),
            "to": _iso(export.period_to),
            "generated_at": _iso(timezone.now()),
            "generator": "ota-rollouts",
        }
        emit('{"export": ' + json.dumps(header, sort_keys=True) + ',\n"records": [')
    for record in _records(export).iterator(chunk_size=CHUNK):
        release = approvals.release(record.release_id)
        market = approvals.market(record.release_id, record.market)
        if is_csv:
            assessment = _assessment(market, record.model)
            emit(
                _csv_line(
                    [
                        record.vin,
                        record.model,
                        record.market,
                        record.at.isoformat(),
                        record.kind,
                        record.reason,
                        release.version,
                        record.rollout_id or "",
                        record.rxswin_before,
                        record.rxswin_after,
                        release.created_by.get_username(),
                        release.approved_by.get_username() if release.approved_by else "",
                        _iso(release.approved_at) or "",
                        market.approved_by.get_username() if market else "",
                        _iso(market.approved_at) if market else "",
                        "" if assessment is None else str(assessment.affects_type_approval),
                        assessment.rationale if assessment else "",
                    ]
                )
            )
        else:
            item = {
                "vin": record.vin,
                "model": record.model,
                "market": record.market,
                "at": record.at.isoformat(),
                "kind": record.kind,
                "reason": record.reason,
                "release": release.version,
                "rollout": record.rollout_id,
                "rxswin_before": record.rxswin_before,
                "rxswin_after": record.rxswin_after,
            }
            emit(("\n" if rows == 0 else ",\n") + json.dumps(item, sort_keys=True))
        rows += 1
        if rows % CHUNK == 0:
            EvidenceExport.objects.filter(pk=export.pk).update(rows=rows)
    if not is_csv:
        emit("\n],\n" + '"approvals": ' + json.dumps(approvals.as_json(), sort_keys=True) + "}\n")
    return sha.hexdigest(), rows


def _assessment(approval: MarketApproval | None, model: str):
    if approval is None:
        return None
    return next((a for a in approval.assessments.all() if a.model == model), None)


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [_neutral(v) if isinstance(v, str) else v for v in values]
    )
    return buffer.getvalue()


def _neutral(value: str) -> str:
    """A cell a spreadsheet would run as a formula is kept as text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
