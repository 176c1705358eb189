"""A rollout moves only by the actions of its lifecycle table, from the states each names and
after the checks each runs: no neighbour of `start` makes a rollout run around the start's
checks (issue 23, finding 1)."""

import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from ota.lifecycle import Lifecycle, move
from rollouts.models import Rollout
from rollouts.models.rollouts import ROLLOUT_LIFECYCLE
from rollouts.services.transitions import CHECKS
from tests.rollouts.api.test_releases_and_rollouts import approved_rollout, create_release

pytestmark = pytest.mark.django_db


def act(api, rollout_id, action, **body):
    return api.post(f"/api/v1/manage/rollouts/{rollout_id}/{action}", body, format="json")


def assert_refused_as_never_started(answer, action):
    assert answer.status_code == 409, answer.json()
    error = answer.json()["error"]
    assert error["code"] == "rollout_state_conflict"
    assert error["detail"]["status"] == "approved"
    assert error["detail"]["action"] == action


def test_a_rollout_refused_by_start_for_type_approval_is_not_run_by_resume_or_advance(
    type_approval, publish, engineer_api, approver_api
):
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = create_release(engineer_api, [bundle], regions=["EU", "CN"]).json()["id"]
    approver_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    rollout_id = engineer_api.post(
        "/api/v1/manage/rollouts", {"release": release_id, "channel": "dev"}, format="json"
    ).json()["id"]
    approver_api.post(f"/api/v1/manage/rollouts/{rollout_id}/approve")

    started = act(approver_api, rollout_id, "start")
    assert started.json()["error"]["code"] == "market_approval_missing"
    for action in ("resume", "advance", "pause", "halt"):
        assert_refused_as_never_started(
            act(approver_api, rollout_id, action, reason="try anyway"), action
        )

    rollout = Rollout.objects.get(pk=rollout_id)
    assert (rollout.status, rollout.started_at) == ("approved", None)
    assert not AuditEvent.objects.filter(action="rollout.running").exists()


def test_a_rollout_behind_a_closed_promotion_gate_is_not_run_by_resume(
    publish, engineer_api, approver_api
):
    bundle, _ = publish()
    _, stable_id = approved_rollout(engineer_api, approver_api, bundle, "stable")

    assert act(engineer_api, stable_id, "start").json()["error"]["code"] == (
        "promotion_gate_closed"
    )
    overridden = act(engineer_api, stable_id, "start", override_reason="ship it")
    assert overridden.status_code == 403
    assert overridden.json()["error"]["code"] == "override_not_allowed"
    assert_refused_as_never_started(act(engineer_api, stable_id, "resume", reason="x"), "resume")
    assert_refused_as_never_started(act(engineer_api, stable_id, "advance"), "advance")

    rollout = Rollout.objects.get(pk=stable_id)
    assert (rollout.status, rollout.gate_overridden_by) == ("approved", None)


def test_an_approver_who_overrides_the_gate_starts_it_stamped_and_audited(
    publish, engineer_api, approver_api
):
    bundle, _ = publish()
    _, stable_id = approved_rollout(engineer_api, approver_api, bundle, "stable")

    started = act(approver_api, stable_id, "start", override_reason="hotfix for stable")

    assert started.json()["status"] == "running"
    rollout = Rollout.objects.get(pk=stable_id)
    assert rollout.started_at and rollout.stage_started_at
    assert (rollout.gate_overridden_by.username, rollout.gate_override_reason) == (
        "ada",
        "hotfix for stable",
    )
    audit = AuditEvent.objects.get(action="rollout.running")
    assert (audit.actor.username, audit.reason, audit.data) == (
        "ada",
        "hotfix for stable",
        {"from": "approved"},
    )


def test_the_database_refuses_a_delivering_rollout_that_was_never_started(
    publish, engineer_api, approver_api
):
    bundle, _ = publish()
    _, rollout_id = approved_rollout(engineer_api, approver_api, bundle, "dev")
    for status in ("running", "paused", "halted", "completed"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Rollout.objects.filter(pk=rollout_id).update(status=status)


def test_every_check_the_table_names_exists_and_every_check_is_named():
    named = {c for m in ROLLOUT_LIFECYCLE.moves.values() for c in m.checks}
    assert named == set(CHECKS)


def test_only_a_start_leads_out_of_approved_into_running():
    into_running = {
        name
        for name, m in ROLLOUT_LIFECYCLE.moves.items()
        if "approved" in m.starts_from and "running" in m.leads_to
    }
    assert into_running == {"start"}
    transitions = ROLLOUT_LIFECYCLE.transitions
    assert transitions["approved"] == {"running", "aborted"}
    assert transitions["completed"] == set() == transitions["aborted"]


def test_a_lifecycle_names_the_state_the_action_and_where_it_may_start_from():
    from ota.errors import Conflict

    class Refused(Conflict):
        code = "refused"

    lifecycle = Lifecycle({"go": move(["a"], ["b", "c"])}, conflict=Refused)
    assert lifecycle.target("go", "a", "c") == "c"
    with pytest.raises(Refused) as refused:
        lifecycle.target("go", "b", "c")
    assert refused.value.detail == {"status": "b", "action": "go", "allowed_from": ["a"]}
    with pytest.raises(Refused):
        lifecycle.target("go", "a")  # two places to go: the caller must say which
    with pytest.raises(Refused):
        lifecycle.target("go", "a", "d")
