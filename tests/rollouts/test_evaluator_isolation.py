"""One rollout the evaluator cannot evaluate does not stop it for the others: its failure is
logged, audited, stored and shown, and every other running rollout is still evaluated (issue
23, finding 4)."""

import pytest

from audit.models import AuditEvent
from rollouts.models import Evaluation
from rollouts.services import evaluation
from rollouts.tasks import evaluate_rollouts

pytestmark = pytest.mark.django_db


def test_a_broken_rollout_among_several_is_reported_and_the_others_are_evaluated(
    publish, ship, engineer_api, staff, monkeypatch
):
    first = ship([publish(hardware_id="hu-gen7")[0]], "dev")[1]
    broken = ship([publish(hardware_id="tcu-gen3")[0]], "beta")[1]
    last = ship([publish(hardware_id="bms-v2")[0]], "stable")[1]
    time_out_stale = evaluation.time_out_stale

    def fails_for_one(*, rollout, now):
        if rollout.pk == broken:  # as a stage too long for the clock did before plans were bounded
            raise OverflowError("date value out of range")
        return time_out_stale(rollout=rollout, now=now)

    monkeypatch.setattr(evaluation, "time_out_stale", fails_for_one)

    outcomes = evaluate_rollouts()

    assert outcomes.get("error") == 1
    assert set(Evaluation.objects.values_list("rollout_id", "outcome")) == {
        (first, "wait"),
        (broken, "error"),
        (last, "wait"),
    }
    failed = AuditEvent.objects.get(action="rollout.evaluation_failed")
    assert failed.target_id == str(broken) and failed.reason.startswith("OverflowError")
    answer = engineer_api.post(f"/api/v1/manage/rollouts/{broken}/evaluate")
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "error"
    dashboard = staff("rita", "release engineer").get("/admin/").content.decode()
    assert "The evaluator failed on this rollout at its last look" in dashboard


def test_a_plan_stored_before_stages_were_bounded_is_cut_to_the_bound(publish, ship):
    import importlib

    from django.apps import apps

    from rollouts.models import Rollout
    from rollouts.plans import MAX_STAGE_MINUTES

    migration = importlib.import_module("rollouts.migrations.0021_bound_stored_stage_plans")
    assert migration.MAX_STAGE_MINUTES == MAX_STAGE_MINUTES
    rollout_id = ship([publish()[0]], "dev")[1]
    stored = {"percent": 100, "gate": "auto", "min_soak_minutes": 2**63}
    Rollout.objects.filter(pk=rollout_id).update(
        stages=[{**stored, "max_duration_minutes": 2**63 + 1}]
    )

    migration.bound_stored_stage_plans(apps, None)

    assert Rollout.objects.get(pk=rollout_id).stages == [
        {**stored, "min_soak_minutes": MAX_STAGE_MINUTES, "max_duration_minutes": MAX_STAGE_MINUTES}
    ]
