"""Releases and rollouts through the management API: four eyes and the promotion gate."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from rollouts.models import Release, Rollout
from rollouts.services.counters import count
from tests.conftest import ALL_AT_ONCE

pytestmark = pytest.mark.django_db


@pytest.fixture
def both_roles_api(make_user):
    """Someone who is both release engineer and approver: still cannot approve their own work."""
    client = APIClient()
    client.force_authenticate(make_user("sol", "release engineer", "approver"))
    return client


def create_release(api, bundles, **extra):
    return api.post(
        "/api/v1/manage/releases",
        {
            "version": extra.pop("version", "7.2.0"),
            "notes": "n",
            "bundles": [b.pk for b in bundles],
            **extra,
        },
        format="json",
    )


def test_a_release_is_created_as_a_draft(engineer_api, publish):
    bundle, _ = publish()
    answer = create_release(engineer_api, [bundle], models=["Aurora"])
    assert answer.status_code == 201
    body = answer.json()
    assert (body["status"], body["models"], body["created_by"]) == ("draft", ["Aurora"], "erin")
    assert body["bundles"][0]["path"] == bundle.path


def test_a_release_approved_by_its_own_author_is_refused(both_roles_api, publish):
    bundle, _ = publish()
    release_id = create_release(both_roles_api, [bundle]).json()["id"]
    answer = both_roles_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "own_approval"
    assert Release.objects.get().status == "draft"


def test_another_person_approves_and_it_is_audited(engineer_api, approver_api, publish):
    bundle, _ = publish()
    release_id = create_release(engineer_api, [bundle]).json()["id"]
    answer = approver_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    assert answer.json()["status"] == "approved"
    assert answer.json()["approved_by"] == "ada"
    assert AuditEvent.objects.filter(action="release.approved", actor__username="ada").exists()
    again = approver_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    assert again.status_code == 409


def test_a_release_needs_published_bundles_one_per_hardware(engineer_api, publish, repos):
    first, _ = publish(hardware_id="hu-gen7")
    second, _ = publish(hardware_id="hu-gen7")
    twice = create_release(engineer_api, [first, second])
    assert twice.status_code == 400
    assert twice.json()["error"]["code"] == "duplicate_hardware_id"
    missing = engineer_api.post(
        "/api/v1/manage/releases", {"version": "x", "bundles": [99999]}, format="json"
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "bundle_not_published"
    assert create_release(engineer_api, [first], version="dup").status_code == 201
    assert create_release(engineer_api, [first], version="dup").status_code == 409


def test_a_rollout_needs_an_approved_release(engineer_api, publish):
    bundle, _ = publish()
    release_id = create_release(engineer_api, [bundle]).json()["id"]
    answer = engineer_api.post(
        "/api/v1/manage/rollouts", {"release": release_id, "channel": "dev"}, format="json"
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "release_not_approved"


def approved_rollout(engineer_api, approver_api, bundle, channel, version="7.2.0"):
    release_id = create_release(engineer_api, [bundle], version=version).json()["id"]
    approver_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts", {"release": release_id, "channel": channel}, format="json"
    ).json()
    approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
    return release_id, rollout["id"]


def test_a_rollout_cannot_be_approved_by_its_author(both_roles_api, approver_api, publish):
    bundle, _ = publish()
    release_id = create_release(both_roles_api, [bundle]).json()["id"]
    approver_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    rollout_id = both_roles_api.post(
        "/api/v1/manage/rollouts", {"release": release_id, "channel": "dev"}, format="json"
    ).json()["id"]
    answer = both_roles_api.post(f"/api/v1/manage/rollouts/{rollout_id}/approve")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "own_approval"
    assert engineer_start(both_roles_api, rollout_id).status_code == 409  # still a draft


def engineer_start(api, rollout_id, **body):
    return api.post(f"/api/v1/manage/rollouts/{rollout_id}/start", body, format="json")


def test_the_promotion_gate_needs_the_previous_channel_completed(
    engineer_api, approver_api, publish
):
    bundle, _ = publish()
    release_id, beta_id = approved_rollout(engineer_api, approver_api, bundle, "beta")
    closed = engineer_start(engineer_api, beta_id)
    assert closed.status_code == 409
    assert closed.json()["error"]["code"] == "promotion_gate_closed"
    assert closed.json()["error"]["detail"]["previous_channel"] == "forever-beta"

    # Through the pipeline: forever-beta needs dev first.
    completed = {}
    for channel in ("dev", "forever-beta"):
        rollout = engineer_api.post(
            "/api/v1/manage/rollouts",
            {"release": release_id, "channel": channel, "stages": ALL_AT_ONCE},
            format="json",
        ).json()
        approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
        assert engineer_start(engineer_api, rollout["id"]).status_code == 200
        advanced = engineer_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/advance")
        assert advanced.json()["status"] == "completed"
        completed[channel] = rollout["id"]

    # Completed on forever beta, but without the telemetry exposure the gate asks for.
    thin = engineer_start(engineer_api, beta_id)
    assert thin.status_code == 409
    assert thin.json()["error"]["detail"]["why"] == "not enough exposure on the previous channel"
    assert thin.json()["error"]["detail"]["required_hours"] == 100
    count(rollout_id=completed["forever-beta"], stage_index=0, treated_seconds=100 * 3600)
    assert engineer_start(engineer_api, beta_id).json()["status"] == "running"


def test_a_release_that_halted_on_the_previous_channel_stays_gated(
    engineer_api, approver_api, publish
):
    bundle, _ = publish()
    release_id, dev_id = approved_rollout(engineer_api, approver_api, bundle, "dev")
    engineer_start(engineer_api, dev_id)
    engineer_api.post(f"/api/v1/manage/rollouts/{dev_id}/halt", {"reason": "x"}, format="json")
    engineer_api.post(
        f"/api/v1/manage/rollouts/{dev_id}/resume", {"reason": "fixed"}, format="json"
    )
    engineer_api.post(f"/api/v1/manage/rollouts/{dev_id}/advance")
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts", {"release": release_id, "channel": "forever-beta"}, format="json"
    ).json()
    approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
    answer = engineer_start(engineer_api, rollout["id"])
    assert answer.status_code == 409
    assert answer.json()["error"]["detail"]["why"] == "halted on the previous channel"


def test_only_an_approver_may_override_the_gate_and_the_reason_is_kept(
    engineer_api, approver_api, publish
):
    bundle, _ = publish()
    _, rollout_id = approved_rollout(engineer_api, approver_api, bundle, "stable")
    refused = engineer_start(engineer_api, rollout_id, override_reason="hotfix")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "override_not_allowed"
    started = engineer_start(approver_api, rollout_id, override_reason="CVE hotfix, CAB-123")
    assert started.json()["status"] == "running"
    assert started.json()["gate_override_reason"] == "CVE hotfix, CAB-123"
    assert AuditEvent.objects.get(action="rollout.running").reason == "CVE hotfix, CAB-123"


def test_resuming_a_halted_rollout_needs_a_reason(engineer_api, approver_api, publish):
    bundle, _ = publish()
    _, rollout_id = approved_rollout(engineer_api, approver_api, bundle, "dev")
    engineer_start(engineer_api, rollout_id)
    engineer_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/halt", {"reason": "crashes"}, format="json"
    )
    refused = engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/resume")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "reason_required"
    resumed = engineer_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/resume",
        {"reason": "fixed server-side config"},
        format="json",
    )
    assert resumed.json()["status"] == "running"


def test_impossible_transitions_are_conflicts(engineer_api, approver_api, publish):
    bundle, _ = publish()
    _, rollout_id = approved_rollout(engineer_api, approver_api, bundle, "dev")
    answer = engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/pause")
    assert answer.status_code == 409
    assert answer.json()["error"]["detail"] == {
        "status": "approved",
        "action": "pause",
        "allowed_from": ["running"],
    }
    assert Rollout.objects.get().status == "approved"


def test_a_rollout_answers_with_its_stages_and_counts(engineer_api, approver_api, publish):
    bundle, _ = publish()
    _, rollout_id = approved_rollout(engineer_api, approver_api, bundle, "dev")
    body = engineer_api.get(f"/api/v1/manage/rollouts/{rollout_id}").json()
    assert body["stage_index"] == 0
    assert body["halt_reason"] is None
    assert body["halt_description"] is None
    assert body["stages"][0]["counts"]["offered"] == 0


def test_a_manual_halt_reads_as_who_halted_it_and_why(engineer_api, approver_api, publish):
    bundle, _ = publish()
    _, rollout_id = approved_rollout(engineer_api, approver_api, bundle, "dev")
    engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/start")
    answer = engineer_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/halt", {"reason": "bad build"}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    body = engineer_api.get(f"/api/v1/manage/rollouts/{rollout_id}").json()
    assert body["halt_reason"]["metric"] == "operator"
    assert body["halt_description"] == "Halted by erin: bad build"  # the engineer fixture
