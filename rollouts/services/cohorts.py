"""Cohorts: create, change and delete them, and keep a static cohort's list of vehicles.

A cohort's definition is what an approver saw when approving a rollout narrowed to it, so it
cannot change while such a rollout is live (not completed or aborted): make a new cohort.
A static cohort's members can change at any time, each change audited with its VINs.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from audit.services import audit_record
from ota.errors import Conflict, Malformed, Unprocessable
from rollouts.cohorts import validate_filter
from rollouts.models import Cohort, CohortKind, CohortMember, RolloutStatus, Vehicle
from rollouts.plans import PlanError
from rollouts.services.decisions import rollout_offer_changed, vehicles_decisions_changed
from rollouts.vin import normalize_vin

MAX_VINS_PER_CHANGE = 10_000
ENDED = (RolloutStatus.COMPLETED, RolloutStatus.ABORTED)


class CohortExists(Conflict):
    code = "cohort_exists"
    message = "A cohort with this name exists already."


class CohortInUse(Conflict):
    code = "cohort_in_use"
    message = "A rollout relies on this cohort; its definition cannot change or go."


class CohortNotStatic(Conflict):
    code = "cohort_not_static"
    message = "Only a static cohort has a list of vehicles; a filter cohort selects them."


class InvalidCohort(Malformed):
    code = "invalid_cohort"
    message = "The cohort is not valid; see detail."


class UnknownVins(Unprocessable):
    code = "unknown_vins"
    message = "Some VINs are not provisioned vehicles; nothing was changed."


@dataclass(frozen=True)
class CohortSpec:
    name: str
    kind: str
    description: str = ""
    models: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    hardware_ids: tuple[str, ...] = ()
    installed: tuple[dict, ...] = ()


def _clean(kind: str, models, regions, hardware_ids, installed) -> dict[str, list]:
    try:
        return validate_filter(
            kind=kind,
            models=list(models),
            regions=list(regions),
            hardware_ids=list(hardware_ids),
            installed=list(installed),
            known_regions=settings.OTA_REGIONS,
        )
    except PlanError as exc:
        raise InvalidCohort(detail=exc.problems) from None


@transaction.atomic
def cohort_create(*, spec: CohortSpec, actor: Any) -> Cohort:
    parts = _clean(spec.kind, spec.models, spec.regions, spec.hardware_ids, spec.installed)
    try:
        with transaction.atomic():
            cohort = Cohort.objects.create(
                name=spec.name,
                kind=spec.kind,
                description=spec.description,
                model_names=parts["models"],
                regions=parts["regions"],
                hardware_ids=parts["hardware_ids"],
                installed=parts["installed"],
                created_by=actor,
            )
    except IntegrityError:
        raise CohortExists(detail={"name": spec.name}) from None
    audit_record(actor=actor, action="cohort.created", target=cohort, data=_definition(cohort))
    return cohort


@transaction.atomic
def cohort_update(*, cohort: Cohort, actor: Any, description: str | None = None, **parts) -> Cohort:
    """Change the description, or the filter parts given (`models`, `regions`, `hardware_ids`,
    `installed`); the filter only while no live rollout relies on the cohort. Parts given as
    they are already change nothing and are not refused."""
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    before = _definition(cohort)
    clean = _clean(
        cohort.kind,
        parts.get("models", cohort.model_names),
        parts.get("regions", cohort.regions),
        parts.get("hardware_ids", cohort.hardware_ids),
        parts.get("installed", cohort.installed),
    )
    if any(clean[part] != before[part] for part in clean):
        _refuse_if_live(cohort)
        cohort.model_names, cohort.regions = clean["models"], clean["regions"]
        cohort.hardware_ids, cohort.installed = clean["hardware_ids"], clean["installed"]
        for rollout in cohort.rollouts.all():  # completed ones still offer by the filter
            rollout_offer_changed(rollout=rollout)
    if description is not None:
        cohort.description = description
    cohort.save()
    after = _definition(cohort)
    if after != before:
        audit_record(
            actor=actor, action="cohort.changed", target=cohort, data={"from": before, "to": after}
        )
    return cohort


@transaction.atomic
def cohort_delete(*, cohort: Cohort, actor: Any) -> None:
    if cohort.rollouts.exists():
        raise CohortInUse(detail={"rollouts": list(cohort.rollouts.values_list("pk", flat=True))})
    audit_record(actor=actor, action="cohort.deleted", target=cohort, data=_definition(cohort))
    cohort.delete()


@dataclass(frozen=True)
class MembersChanged:
    changed: int  # added or removed
    unchanged: int  # already members (add) or not members (remove)


@transaction.atomic
def cohort_members_add(*, cohort: Cohort, vins: list[str], actor: Any) -> MembersChanged:
    """Add provisioned vehicles to a static cohort, all or nothing; members already listed
    are left as they are."""
    vehicles = _vehicles(cohort, vins)
    present = set(
        CohortMember.objects.filter(cohort=cohort, vehicle__in=vehicles.values()).values_list(
            "vehicle_id", flat=True
        )
    )
    new = [v for v in vehicles.values() if v.pk not in present]
    CohortMember.objects.bulk_create(
        [CohortMember(cohort=cohort, vehicle=v) for v in new], ignore_conflicts=True
    )
    vehicles_decisions_changed(vehicle_ids=[v.pk for v in new])
    if new:
        audit_record(
            actor=actor,
            action="cohort.members_added",
            target=cohort,
            data={"count": len(new), "vins": sorted(v.vin for v in new)},
        )
    return MembersChanged(changed=len(new), unchanged=len(vehicles) - len(new))


@transaction.atomic
def cohort_members_remove(*, cohort: Cohort, vins: list[str], actor: Any) -> MembersChanged:
    """Take vehicles off a static cohort's list. A vehicle already offered a release keeps
    that offer (it stays in the rollout's scope); it only gets no new ones."""
    vehicles = _vehicles(cohort, vins)
    rows = CohortMember.objects.filter(cohort=cohort, vehicle__in=vehicles.values())
    removed = sorted(rows.values_list("vehicle__vin", flat=True))
    vehicles_decisions_changed(vehicle_ids=rows.values_list("vehicle_id", flat=True))
    rows.delete()
    if removed:
        audit_record(
            actor=actor,
            action="cohort.members_removed",
            target=cohort,
            data={"count": len(removed), "vins": removed},
        )
    return MembersChanged(changed=len(removed), unchanged=len(vehicles) - len(removed))


def _vehicles(cohort: Cohort, vins: list[str]) -> dict[str, Vehicle]:
    if cohort.kind != CohortKind.STATIC:
        raise CohortNotStatic(detail={"cohort": cohort.name, "kind": cohort.kind})
    wanted = {normalize_vin(vin) for vin in vins}
    if not wanted or len(wanted) > MAX_VINS_PER_CHANGE:
        raise InvalidCohort(detail={"vins": f"1 to {MAX_VINS_PER_CHANGE} VINs per change"})
    found = {v.vin: v for v in Vehicle.objects.filter(vin__in=wanted).only("pk", "vin")}
    unknown = sorted(wanted - set(found))
    if unknown:
        raise UnknownVins(detail={"count": len(unknown), "vins": unknown[:50]})
    return found


def _refuse_if_live(cohort: Cohort) -> None:
    live = list(cohort.rollouts.exclude(status__in=ENDED).values_list("pk", flat=True))
    if live:
        raise CohortInUse(detail={"rollouts": live})


def _definition(cohort: Cohort) -> dict[str, Any]:
    return {
        "kind": cohort.kind,
        "description": cohort.description,
        "models": cohort.model_names,
        "regions": cohort.regions,
        "hardware_ids": cohort.hardware_ids,
        "installed": cohort.installed,
    }
