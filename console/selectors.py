"""Reads for the console. Each page costs a fixed number of queries, whatever the fleet's size:
rollout figures come from the per-stage counters, never from a count of assignments, and the
fleet's composition is one grouped read, cached for a minute."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from audit.models import AuditEvent
from console.progress import Health, Progress, health, next_gate, progress
from rollouts import install_policy
from rollouts.models import (
    Channel,
    CohortKind,
    CohortMember,
    Ecu,
    Evaluation,
    Outcome,
    Release,
    ReleaseStatus,
    Rollout,
    RolloutStatus,
    Vehicle,
)
from rollouts.promotion import gate_closed_because
from rollouts.services import counters
from rollouts.targeting import narrow

CARD_STATES = (RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.HALTED)
FLEET_CACHE_KEY = "console:fleet:v1"
FLEET_CACHE_SECONDS = 60
SPARK_POINTS = 60  # evaluations drawn on a card
HISTORY_POINTS = 500  # evaluations drawn on a rollout's page
UNKNOWN_IMAGE = "unknown image"


# --- the fleet's composition ------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    vehicles: dict[tuple[int, str, str], int]  # (channel id, region, model) → vehicles
    listed: dict[tuple[int, int, str, str], int]  # (static cohort, channel, region, model) → …
    installed: list[tuple[str, str, str, int]]  # (hardware id, region, version, vehicles)
    counted_at: datetime


def fleet(*, fresh: bool = False) -> Fleet:
    """Three grouped reads; a minute old at most (a large fleet's GROUP BY is not free)."""
    if not fresh and (cached := cache.get(FLEET_CACHE_KEY)) is not None:
        return cached
    vehicles = {
        (row["channel_id"], row["region"], row["model"]): row["n"]
        for row in Vehicle.objects.order_by()
        .values("channel_id", "region", "model")
        .annotate(n=Count("id"))
    }
    listed = {
        (
            row["cohort_id"],
            row["vehicle__channel_id"],
            row["vehicle__region"],
            row["vehicle__model"],
        ): row["n"]
        for row in CohortMember.objects.filter(cohort__kind=CohortKind.STATIC)
        .order_by()
        .values("cohort_id", "vehicle__channel_id", "vehicle__region", "vehicle__model")
        .annotate(n=Count("id"))
    }
    installed = [
        (
            row["hardware_id"],
            row["vehicle__region"],
            row["installed_bundle__version"] or UNKNOWN_IMAGE,
            row["n"],
        )
        for row in Ecu.objects.order_by()
        .values("hardware_id", "vehicle__region", "installed_bundle__version")
        .annotate(n=Count("id"))
    ]
    found = Fleet(vehicles, listed, installed, timezone.now())
    cache.set(FLEET_CACHE_KEY, found, FLEET_CACHE_SECONDS)
    return found


def in_scope(rollout: Rollout, composition: Fleet) -> int | None:
    """Vehicles the rollout is for: its channel, narrowed by release, rollout and cohort.
    None when its cohort filters on hardware or installed software (not counted here)."""
    models = narrow(rollout.release.model_names, rollout.model_names)
    regions = narrow(rollout.release.regions, rollout.regions)
    cohort = rollout.cohort
    if cohort is not None and cohort.kind == CohortKind.FILTER:
        if cohort.hardware_ids or cohort.installed:
            return None
        models = narrow(models, cohort.model_names)
        regions = narrow(regions, cohort.regions)

    def counted(region: str, model: str) -> bool:
        return (not regions or region in regions) and (not models or model in models)

    if cohort is not None and cohort.kind == CohortKind.STATIC:
        return sum(
            n
            for (cohort_id, channel_id, region, model), n in composition.listed.items()
            if cohort_id == cohort.pk
            and channel_id == rollout.channel_id
            and counted(region, model)
        )
    return sum(
        n
        for (channel_id, region, model), n in composition.vehicles.items()
        if channel_id == rollout.channel_id and counted(region, model)
    )


@dataclass(frozen=True)
class Installed:
    """One hardware id: vehicles per installed version in each region."""

    hardware_id: str
    regions: list[str]
    versions: dict[str, list[int]]  # version → vehicles per region, most installed first
    total: int


def installed_software(composition: Fleet, *, most: int = 5) -> list[Installed]:
    """The `most` most installed versions of each hardware id; the rest as "other"."""
    by_hardware: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for hardware_id, region, version, n in composition.installed:
        by_hardware[hardware_id][(version, region)] = n
    found = []
    for hardware_id, counts in sorted(by_hardware.items()):
        regions = sorted({region for _, region in counts})
        per_version: dict[str, int] = defaultdict(int)
        for (version, _), n in counts.items():
            per_version[version] += n
        ranked = sorted(per_version, key=lambda v: (-per_version[v], v))
        shown, rest = ranked[:most], set(ranked[most:])
        versions = {v: [counts.get((v, r), 0) for r in regions] for v in shown}
        if rest:
            versions["other"] = [sum(counts.get((v, r), 0) for v in rest) for r in regions]
        found.append(Installed(hardware_id, regions, versions, sum(per_version.values())))
    return found


# --- rollouts ---------------------------------------------------------------------------------


@dataclass
class Card:
    rollout: Rollout
    stages: dict[int, dict[str, int]]
    totals: dict[str, int]
    progress: Progress
    health: Health
    next_gate: str
    awaiting_person: bool
    failure_points: list = field(default_factory=list)  # (at, value, lower, upper)

    @property
    def recall_deadline(self) -> datetime | None:
        """A safety recall's deadline (its per-market progress is on the rollout's page)."""
        if not self.rollout.safety_recall:
            return None
        return install_policy.deadline(self.rollout.effective_install_policy)


def _latest_outcome():
    return Subquery(
        Evaluation.objects.filter(rollout=OuterRef("pk"))
        .exclude(outcome=Outcome.SKIPPED)
        .order_by("-at", "-id")
        .values("outcome")[:1]
    )


def rollout_cards(*, composition: Fleet, now: datetime | None = None) -> list[Card]:
    """Running, paused and halted rollouts: three queries (rollouts, counters, evaluations)."""
    now = now or timezone.now()
    rollouts = (
        Rollout.objects.select_related("release", "channel", "cohort")
        .annotate(latest_outcome=_latest_outcome())
        .filter(status__in=CARD_STATES)
    )
    order = {status: i for i, status in enumerate(CARD_STATES)}
    rollouts = sorted(
        rollouts,
        key=lambda r: (order.get(r.status, 9), -(r.started_at or r.created_at).timestamp()),
    )
    if not rollouts:
        return []
    ids = [r.pk for r in rollouts]
    by_rollout = counters.by_rollout_and_stage(rollout_ids=ids)
    points = failure_points(rollout_ids=ids, per_rollout=SPARK_POINTS)
    cards = []
    for rollout in rollouts:
        stages = by_rollout.get(rollout.pk, {})
        totals = counters.summed(stages)
        awaiting = (
            rollout.status == RolloutStatus.RUNNING
            and rollout.latest_outcome == Outcome.AWAIT_APPROVAL
        )
        cards.append(
            Card(
                rollout=rollout,
                stages=stages,
                totals=totals,
                progress=progress(
                    totals=totals,
                    stages=rollout.stages,
                    stage_index=rollout.stage_index,
                    in_scope=in_scope(rollout, composition),
                ),
                health=health(totals=totals, policy=rollout.policy),
                next_gate=next_gate(
                    status=rollout.status,
                    stages=rollout.stages,
                    stage_index=rollout.stage_index,
                    stage_started_at=rollout.stage_started_at,
                    now=now,
                    awaiting_person=awaiting,
                ),
                awaiting_person=awaiting,
                failure_points=points.get(rollout.pk, []),
            )
        )
    return cards


def failure_points(*, rollout_ids, per_rollout: int) -> dict[int, list]:
    """The last `per_rollout` evaluations' failure rates of each rollout, oldest first: one
    query (a window function numbers each rollout's rows)."""
    rows = (
        Evaluation.objects.filter(rollout_id__in=rollout_ids)
        .exclude(outcome=Outcome.SKIPPED)
        .annotate(
            n=Window(
                RowNumber(),
                partition_by=[F("rollout_id")],
                order_by=[F("at").desc(), F("id").desc()],
            )
        )
        .filter(n__lte=per_rollout)
        .values_list("rollout_id", "at", "numbers__failure_rate")
    )
    found: dict[int, list] = defaultdict(list)
    for rollout_id, at, rate in rows:
        if rate:
            found[rollout_id].append((at, rate["value"], rate["lower"], rate["upper"]))
    return {rollout_id: sorted(p, key=lambda x: x[0]) for rollout_id, p in found.items()}


@dataclass(frozen=True)
class History:
    """A rollout's stored evaluations, as series to draw (oldest first)."""

    failure: list  # (at, value, lower, upper)
    ratios: dict[str, list]  # metric → (at, ratio, lower, upper or None)


def rollout_history(*, rollout: Rollout, points: int = HISTORY_POINTS) -> History:
    rows = list(
        Evaluation.objects.filter(rollout=rollout)
        .exclude(outcome=Outcome.SKIPPED)
        .order_by("-at", "-id")
        .values_list("at", "numbers__failure_rate", "numbers__health")[:points]
    )
    rows.reverse()
    failure, ratios = [], defaultdict(list)
    for at, rate, checks in rows:
        if rate:
            failure.append((at, rate["value"], rate["lower"], rate["upper"]))
        for metric, check in (checks or {}).items():
            ratios[metric].append((at, check["ratio"], check["lower"], check["upper"]))
    return History(failure, dict(ratios))


# --- what waits for a person ------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    what: str  # release, rollout
    obj: Release | Rollout
    why: str


def waiting_for(user, cards: list[Card]) -> list[Waiting]:
    """Approvals this person may give (not their own), manual gates, paused and halted
    rollouts they may act on, approved rollouts not started. Two queries at most."""
    found: list[Waiting] = []
    if user.has_perm("rollouts.approve_release"):
        for release in (
            Release.objects.filter(status=ReleaseStatus.DRAFT)
            .exclude(created_by=user)
            .select_related("created_by")[:20]
        ):
            found.append(Waiting("release", release, f"made by {release.created_by}: approve it"))
    may_approve = user.has_perm("rollouts.approve_rollout")
    may_operate = user.has_perm("rollouts.change_rollout")
    if may_approve or may_operate:
        pending = Q(status=RolloutStatus.APPROVED) if may_operate else Q(pk__in=[])
        if may_approve:
            pending |= Q(status=RolloutStatus.DRAFT) & ~Q(created_by=user)
        for rollout in Rollout.objects.filter(pending).select_related(
            "release", "channel", "created_by"
        )[:20]:
            why = (
                f"made by {rollout.created_by}: approve it"
                if rollout.status == RolloutStatus.DRAFT
                else "approved: start it"
            )
            found.append(Waiting("rollout", rollout, why))
    if may_operate:
        for card in cards:
            rollout = card.rollout
            if card.awaiting_person:
                found.append(
                    Waiting("rollout", rollout, f"manual gate at stage {rollout.stage_index + 1}")
                )
            elif rollout.status == RolloutStatus.PAUSED:
                found.append(Waiting("rollout", rollout, "paused"))
            elif rollout.status == RolloutStatus.HALTED:
                found.append(Waiting("rollout", rollout, f"halted: {rollout.halt_description}"))
    return found


def last_halts(*, limit: int = 6) -> list[AuditEvent]:
    """The latest halts, by the evaluator or a person, with their reasons (one query)."""
    return list(AuditEvent.objects.filter(action="rollout.halted").order_by("-at", "-id")[:limit])


# --- the release pipeline ---------------------------------------------------------------------


@dataclass
class Cell:
    channel: Channel
    rollout: Rollout | None
    gate: dict | None  # why the release may not start here yet (None: it may)
    exposure_hours: float = 0.0

    @property
    def state(self) -> str:
        rollout = self.rollout
        if rollout is None:
            return "not started"
        if rollout.status == RolloutStatus.RUNNING:
            stages = len(rollout.stages or [None])
            return (
                f"running in stage {rollout.stage_index + 1} of {stages} "
                f"({rollout.current_percent:g} %)"
            )
        return rollout.status


@dataclass
class PipelineRow:
    release: Release
    cells: list[Cell]
    next_cell: Cell | None  # where the release goes next


def pipeline(*, releases: int = 12) -> tuple[list[Channel], list[PipelineRow]]:
    """The latest releases across the channels: three queries (channels, releases, rollouts
    with their summed exposure and halts), whatever the number of cells."""
    channels = list(Channel.objects.order_by("position"))
    recent = list(Release.objects.order_by("-created_at", "-id")[:releases])
    rollouts = (
        Rollout.objects.filter(release__in=recent)
        .select_related("release", "channel")
        .annotate(exposure_seconds=Sum("counters__treated_seconds"))
        .order_by("created_at", "id")
    )
    by_cell: dict[tuple[int, int], Rollout] = {}
    for rollout in rollouts:  # the live rollout wins over an aborted one
        key = (rollout.release_id, rollout.channel_id)
        if key not in by_cell or by_cell[key].status == RolloutStatus.ABORTED:
            by_cell[key] = rollout
    rows = []
    for release in recent:
        cells: list[Cell] = []
        for position, channel in enumerate(channels):
            rollout = by_cell.get((release.pk, channel.pk))
            gate = None
            if position:
                before = by_cell.get((release.pk, channels[position - 1].pk))
                gate = gate_closed_because(
                    completed=before is not None and before.status == RolloutStatus.COMPLETED,
                    halts=before.halts if before else 0,
                    exposure_hours=(before.exposure_seconds or 0) / 3600 if before else 0.0,
                    required_hours=settings.OTA_PROMOTION_MIN_EXPOSURE_HOURS.get(
                        channels[position - 1].name, 0
                    ),
                )
            exposure = (rollout.exposure_seconds or 0) / 3600 if rollout else 0.0
            cells.append(Cell(channel, rollout, gate, exposure))
        rows.append(PipelineRow(release, cells, _next_cell(release, cells)))
    return channels, rows


def _next_cell(release: Release, cells: list[Cell]) -> Cell | None:
    """Where the release goes next: the furthest channel it reached while unfinished there,
    else the channel after it (a release may have skipped channels with an override)."""
    if release.status != ReleaseStatus.APPROVED:
        return None
    reached = [
        i
        for i, cell in enumerate(cells)
        if cell.rollout is not None and cell.rollout.status != RolloutStatus.ABORTED
    ]
    if not reached:
        return cells[0] if cells else None
    furthest = reached[-1]
    if cells[furthest].rollout.status != RolloutStatus.COMPLETED:
        return cells[furthest]
    return cells[furthest + 1] if furthest + 1 < len(cells) else None
