"""Sending vehicles that installed a halted release back to what they had before.

Rollback protection forbids offering a lower release counter, so the previous image is
re-published as a new bundle: the same bytes (the same content-addressed blob), a new target
path, and a release counter above the halted one. A revert rollout, offered only to the
vehicles that installed the halted release, delivers it.
"""

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_record
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Release,
    ReleaseBundle,
    ReleaseStatus,
    Rollout,
    RolloutStatus,
)
from rollouts.models.rollouts import ROLLOUT_LIFECYCLE
from rollouts.services.assignments import move_by_stage
from rollouts.services.counters import count
from rollouts.services.transitions import EVALUATOR, rollout_move
from rollouts.signals import AssignmentMove, announce
from signing.models import Bundle, BundleStatus
from signing.services.bundles import bundle_publish

REVERT_PLAN = [
    {"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 1440}
]


@transaction.atomic
def revert_start(
    *, rollout: Rollout, actor: User | None = None, reason: str = ""
) -> Rollout | None:
    """Start a revert rollout for the vehicles that installed this one's release. None when
    no vehicle installed it, or none of its parts has an earlier image to go back to."""
    ROLLOUT_LIFECYCLE.target("revert", rollout.status)  # halted, else revert_not_possible
    affected = Assignment.objects.filter(rollout=rollout, status=AssignmentStatus.SUCCEEDED)
    if not affected.exists():
        return None
    bundles = [
        b
        for item in rollout.release.items.select_related("bundle")
        if (b := _republish_previous(item.bundle, actor))
    ]
    if not bundles:
        return None

    now = timezone.now()
    release = Release.objects.create(
        version=f"{rollout.release.version}-revert-{rollout.pk}",
        notes=f"Automatic revert of {rollout.release.version} after its halt on "
        f"{rollout.channel.name}: {rollout.halt_description}",
        status=ReleaseStatus.APPROVED,
        # The four eyes were on the halted rollout, whose policy asked for this revert.
        created_by=rollout.created_by,
        approved_by=rollout.approved_by or rollout.created_by,
        approved_at=now,
        model_names=rollout.release.model_names,
        regions=rollout.release.regions,
        # Going back to what its markets had: no new type-approval assessment to make.
        approved_markets=rollout.release.approved_markets,
    )
    ReleaseBundle.objects.bulk_create(
        ReleaseBundle(release=release, bundle=b, hardware_id=b.hardware_id) for b in bundles
    )
    revert = Rollout.objects.create(
        release=release,
        channel=rollout.channel,
        regions=rollout.regions,
        model_names=rollout.model_names,
        status=RolloutStatus.APPROVED,
        created_by=rollout.created_by,
        approved_by=rollout.approved_by,
        stages=REVERT_PLAN,
        policy={**rollout.policy, "on_halt": "stop"},
        only_assigned=True,
        reverts=rollout,
    )
    audit_record(
        actor=actor,
        actor_label="" if actor else EVALUATOR,
        action="rollout.created",
        target=revert,
        data={"reverts": rollout.pk},
    )
    # Started as any rollout is, with the start's checks. It cannot wait here for the Image
    # metadata just signed to be served (this is one transaction with the halt): a car that
    # polls within the lease meets the target a moment later.
    revert = rollout_move(
        revert, "start", actor=actor, actor_label="" if actor else EVALUATOR, reason=reason
    )
    vehicles = list(affected.values_list("vehicle_id", flat=True))
    Assignment.objects.bulk_create(Assignment(rollout=revert, vehicle_id=v) for v in vehicles)
    announce([AssignmentMove(v, revert.pk, AssignmentStatus.OFFERED, now) for v in vehicles])
    count(rollout_id=revert.pk, stage_index=0, offered=len(vehicles))

    move_by_stage(rollout, affected, AssignmentStatus.REVERTED, "reverted", now)
    audit_record(
        actor=actor,
        actor_label="" if actor else EVALUATOR,
        action="rollout.reverted",
        target=rollout,
        reason=reason,
        data={
            "revert_rollout": revert.pk,
            "vehicles": len(vehicles),
            "bundles": [b.path for b in bundles],
        },
    )
    return revert


def revert_late_install(*, assignment: Assignment) -> bool:
    """An install that was under way when its rollout halted, and finished after, goes back
    too: into the revert rollout if there is one, or one is started if the policy asks for a
    revert and this is the first vehicle to have installed the release. The caller holds the
    decision lock, so no halt or revert is half done while this runs."""
    rollout = assignment.rollout  # read after the decision lock, in this transaction
    if rollout.status not in (RolloutStatus.HALTED, RolloutStatus.ABORTED):
        return False
    revert = rollout.revert_rollouts.first()
    if revert is None:
        if rollout.status == RolloutStatus.HALTED and rollout.policy.get("on_halt") == "revert":
            return revert_start(rollout=rollout) is not None
        return False
    _, created = Assignment.objects.get_or_create(
        rollout=revert, vehicle_id=assignment.vehicle_id, defaults={"stage_index": 0}
    )
    if created:
        count(rollout_id=revert.pk, stage_index=0, offered=1)
        announce(
            [
                AssignmentMove(
                    assignment.vehicle_id, revert.pk, AssignmentStatus.OFFERED, timezone.now()
                )
            ]
        )
    late = Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.SUCCEEDED)
    move_by_stage(rollout, late, AssignmentStatus.REVERTED, "reverted", timezone.now())
    audit_record(
        actor=None,
        actor_label="vehicle",
        action="rollout.reverted_late_install",
        target=rollout,
        data={"revert_rollout": revert.pk, "vin": assignment.vehicle.vin},
    )
    return True


def _republish_previous(bad: Bundle, actor: User | None) -> Bundle | None:
    previous = (
        Bundle.objects.filter(
            hardware_id=bad.hardware_id,
            status=BundleStatus.PUBLISHED,
            release_counter__lt=bad.release_counter,
        )
        .exclude(path__contains="+revert")
        .order_by("-release_counter")
        .first()
    )
    if previous is None:
        return None  # only a factory image before: nothing signed to go back to
    top = Bundle.objects.filter(hardware_id=bad.hardware_id).aggregate(m=Max("release_counter"))
    counter = top["m"] + 1
    again = Bundle.objects.create(
        path=f"{previous.path}+revert{counter}",
        hardware_id=previous.hardware_id,
        version=f"{previous.version}+revert",
        release_counter=counter,
        length=previous.length,
        sha256=previous.sha256,
        sha512=previous.sha512,
        blob_name=previous.blob_name,
        regions=previous.regions,
        status=BundleStatus.VERIFIED,
    )
    again, _ = bundle_publish(bundle=again, actor=actor)
    return again
