"""Random sequences of actions by random people (and the evaluator) through the services: after
every step, whatever came before, the rules of the lifecycle hold (issue 23).

- a rollout that delivers was started: it has `started_at`, a market of it approved the
  release, and its promotion gate was open or overridden, with a reason, by someone allowed;
- releases and rollouts were approved by someone other than their author (four eyes);
- a status only ever changed along the lifecycle table, each change with its audit row;
- a refused action changed nothing and wrote nothing.

Hypothesis drives it with a fixed seed: a few seconds in `make test`; CI runs more examples
(OTA_PROPERTY_EXAMPLES).
"""

import os

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from audit.models import AuditEvent
from compliance.services.approvals import market_approve
from ota.errors import DomainError
from rollouts.models import Channel, Release, Rollout
from rollouts.models.rollouts import DELIVERING, ROLLOUT_LIFECYCLE
from rollouts.roles import APPROVER, HOMOLOGATION, KEY_CUSTODIAN, RELEASE_ENGINEER
from rollouts.selectors import awaiting_type_approval, rollout_markets
from rollouts.services.evaluation import halt_on_critical, rollout_evaluate_or_report
from rollouts.services.releases import ReleaseSpec, release_approve, release_create
from rollouts.services.rollout_actions import ROLLOUT_ACTIONS
from rollouts.services.rollouts import rollout_create
from rollouts.services.transitions import previous_channel, promotion_gate

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("OTA_PROPERTY_EXAMPLES", "20"))
PEOPLE = {
    "erin": [RELEASE_ENGINEER],
    "ada": [APPROVER],
    "sol": [RELEASE_ENGINEER, APPROVER],
    "hana": [HOMOLOGATION],
    "kim": [KEY_CUSTODIAN],
    "nobody": [],
}
CHANNELS = ["dev", "forever-beta", "beta", "stable"]
PLANS = [
    [{"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60}],
    [
        {"percent": 50, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
        {"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60},
    ],
]


class Lifecycle(RuleBasedStateMachine):
    """One example: its own savepoint, rolled back at its end; the bundle and the people are
    the test's."""

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        self.people = {name: User.objects.get(username=name) for name in PEOPLE}
        self.bundle_id = BUNDLE_ID
        self.seen: dict[int, str] = {}
        self.mark = _last_audit_id()
        self.versions = 0

    def teardown(self):
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    releases = Bundle("releases")
    approved_releases = Bundle("approved_releases")
    rollouts = Bundle("rollouts")
    # Weighted towards the people who can act, so that chains of actions happen.
    person = st.sampled_from(["erin", "ada", "sol", "erin", "ada", "sol", "hana", "kim", "nobody"])

    def attempt(self, act) -> bool:
        """Carry out one step; a refusal must leave everything as it was."""
        before = (_statuses(), _last_audit_id())
        try:
            act()
        except DomainError:
            assert (_statuses(), _last_audit_id()) == before, "a refused action changed things"
            return False
        return True

    @initialize(
        target=approved_releases,
        regions=st.lists(st.sampled_from(["US", "EU", "CN"]), unique=True, max_size=2),
    )
    def an_approved_release(self, regions):
        release = self._release("erin", regions)
        release_approve(release=Release.objects.get(pk=release), actor=self.people["ada"])
        return release

    @initialize(
        target=rollouts,
        regions=st.lists(st.sampled_from(["US", "EU", "CN"]), unique=True, max_size=2),
        channel=st.sampled_from(CHANNELS),
    )
    def an_approved_rollout(self, regions, channel):
        """Where starts are refused most: a release some markets have not approved, on a
        channel whose gate is closed."""
        release = Release.objects.get(pk=self._release("erin", regions))
        release_approve(release=release, actor=self.people["ada"])
        rollout = rollout_create(
            release=release, channel=Channel.objects.get(name=channel), actor=self.people["erin"]
        )
        ROLLOUT_ACTIONS["approve"].perform(rollout, self.people["ada"])
        self.seen[rollout.pk] = "approved"
        self.mark = _last_audit_id()
        return rollout.pk

    @precondition(lambda self: self.versions < 8)
    @rule(
        target=releases,
        author=person,
        regions=st.lists(st.sampled_from(["US", "EU", "CN"]), unique=True, max_size=2),
    )
    def create_release(self, author, regions):
        return self._release(author, regions)

    def _release(self, author: str, regions: list[str]) -> int:
        self.versions += 1
        spec = ReleaseSpec(
            version=f"9.{self.versions}", notes="", bundle_ids=[self.bundle_id], regions=regions
        )
        return release_create(spec=spec, actor=self.people[author]).pk

    @rule(target=approved_releases, release=releases, actor=person)
    def approve_release(self, release, actor):
        approved = self.attempt(
            lambda: release_approve(
                release=Release.objects.get(pk=release), actor=self.people[actor]
            )
        )
        return multiple(release) if approved else multiple()

    @rule(release=approved_releases, actor=person, market=st.sampled_from(["EU", "CN"]))
    def approve_market(self, release, actor, market):
        self.attempt(
            lambda: market_approve(
                release=Release.objects.get(pk=release),
                market=market,
                assessments=[],  # no cars: no vehicle type to assess
                actor=self.people[actor],
            )
        )

    @rule(
        target=rollouts,
        release=approved_releases,
        channel=st.sampled_from(CHANNELS),
        author=person,
        plan=st.sampled_from(PLANS),
        on_halt=st.sampled_from(["stop", "retract", "revert"]),
    )
    def create_rollout(self, release, channel, author, plan, on_halt):
        created: list[int] = []
        self.attempt(
            lambda: created.append(
                rollout_create(
                    release=Release.objects.get(pk=release),
                    channel=Channel.objects.get(name=channel),
                    actor=self.people[author],
                    stages=plan,
                    policy={"on_halt": on_halt},
                ).pk
            )
        )
        return multiple(*created)

    def act(self, action: str, rollout: int, actor: str, reason: str) -> None:
        self.attempt(
            lambda: ROLLOUT_ACTIONS[action].perform(
                Rollout.objects.get(pk=rollout), self.people[actor], reason=reason
            )
        )

    # One rule per action, so that actions on rollouts are most of the steps.
    reason = st.sampled_from(["", "a reason"])

    @rule(rollout=rollouts, actor=person)
    def approve(self, rollout, actor):
        self.act("approve", rollout, actor, "")

    @rule(rollout=rollouts, actor=person, reason=reason)
    def start(self, rollout, actor, reason):
        self.act("start", rollout, actor, reason)

    @rule(rollout=rollouts, actor=person, reason=reason)
    def pause(self, rollout, actor, reason):
        self.act("pause", rollout, actor, reason)

    @rule(rollout=rollouts, actor=person, reason=reason)
    def resume(self, rollout, actor, reason):
        self.act("resume", rollout, actor, reason)

    @rule(rollout=rollouts, actor=person, reason=reason)
    def advance(self, rollout, actor, reason):
        self.act("advance", rollout, actor, reason)

    @rule(rollout=rollouts, actor=person, reason=reason)
    def halt(self, rollout, actor, reason):
        self.act("halt", rollout, actor, reason)

    @rule(rollout=rollouts, actor=person, reason=reason)
    def abort(self, rollout, actor, reason):
        self.act("abort", rollout, actor, reason)

    @rule(rollout=rollouts, actor=person, reason=reason)
    def revert(self, rollout, actor, reason):
        self.act("revert", rollout, actor, reason)

    @rule(rollout=rollouts)
    def evaluator_looks(self, rollout):
        rollout_evaluate_or_report(rollout_id=rollout)

    @rule(rollout=rollouts)
    def a_car_reports_a_critical_signal(self, rollout):
        found = Rollout.objects.get(pk=rollout)
        halt_on_critical(rollout=found, signal="E_BRICK", stage_index=0, vin="VIN")

    # --- what holds after every step --------------------------------------------------------

    @invariant()
    def delivering_rollouts_were_started_with_the_starts_checks(self):
        for rollout in Rollout.objects.filter(status__in=DELIVERING).select_related(
            "release", "channel", "gate_overridden_by"
        ):
            assert rollout.started_at and rollout.stage_started_at, rollout.pk
            markets = rollout_markets(rollout)
            awaiting = awaiting_type_approval(rollout.release, markets)
            assert not markets or len(awaiting) < len(markets), (rollout.pk, awaiting)
            if rollout.reverts_id is not None:
                continue
            if rollout.gate_overridden_by is not None:
                assert rollout.gate_override_reason.strip()
                assert rollout.gate_overridden_by.has_perm("rollouts.override_promotion_gate")
                continue
            previous = previous_channel(rollout.channel)
            # The gate closes no more once open: a completed rollout stays completed.
            assert previous is None or promotion_gate(rollout.release, previous) is None

    @invariant()
    def four_eyes(self):
        for model in (Release, Rollout):
            for author, approver in model.objects.filter(approved_by__isnull=False).values_list(
                "created_by", "approved_by"
            ):
                assert author != approver

    @invariant()
    def statuses_move_along_the_table_each_with_its_audit_row(self):
        now = _statuses()
        for rollout_id, status in now.items():
            was = self.seen.get(rollout_id, "draft")
            if status != was:
                assert status in ROLLOUT_LIFECYCLE.transitions[was], (rollout_id, was, status)
                assert AuditEvent.objects.filter(
                    pk__gt=self.mark, action=f"rollout.{status}", target_id=str(rollout_id)
                ).exists(), (rollout_id, was, status)
        self.seen, self.mark = now, _last_audit_id()


def _statuses() -> dict[int, str]:
    return dict(Rollout.objects.values_list("pk", "status"))


def _last_audit_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


BUNDLE_ID = 0


def test_the_lifecycle_rules_hold_after_any_sequence_of_actions(publish, make_user, type_approval):
    global BUNDLE_ID
    for name, groups in PEOPLE.items():
        make_user(name, *groups)
    BUNDLE_ID = publish(hardware_id="hu-gen7")[0].pk
    assert set(django_settings.OTA_TYPE_APPROVAL_MARKETS) == {"EU", "CN"}
    assert all(callable(getattr(Lifecycle, name, None)) for name in ROLLOUT_ACTIONS)
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=50,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
