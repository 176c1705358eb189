"""Stage plans and policies through the management API."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved_release(engineer_api, approver_api, publish):
    bundle, _ = publish()
    release_id = engineer_api.post(
        "/api/v1/manage/releases", {"version": "9.0", "bundles": [bundle.pk]}, format="json"
    ).json()["id"]
    approver_api.post(f"/api/v1/manage/releases/{release_id}/approve")
    return release_id


def create(api, release_id, **body):
    return api.post(
        "/api/v1/manage/rollouts",
        {"release": release_id, "channel": "stable", **body},
        format="json",
    )


def test_a_rollout_gets_its_channels_default_plan_and_policy(
    engineer_api, approved_release, settings
):
    body = create(engineer_api, approved_release).json()
    assert [s["percent"] for s in body["stages"]] == [1, 5, 20, 50, 100]
    assert body["stages"][2]["gate"] == "manual"
    assert body["policy"] == settings.OTA_DEFAULT_POLICY
    assert body["stages"][0]["counts"]["offered"] == 0
    assert body["stages"][0]["failure_rate"] == {"value": 0.0, "lower": 0.0, "upper": 1.0}


def test_a_rollout_takes_its_own_plan_and_policy_overrides(engineer_api, approved_release):
    stages = [
        {"percent": 10, "min_soak_minutes": 30, "gate": "manual", "max_duration_minutes": 120},
        {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    ]
    body = create(
        engineer_api,
        approved_release,
        stages=stages,
        policy={"max_failure_rate": 0.05, "on_halt": "retract"},
    ).json()
    assert body["stages"][0]["percent"] == 10
    assert body["policy"]["max_failure_rate"] == 0.05
    assert body["policy"]["on_halt"] == "retract"
    assert body["policy"]["min_finished"] == 50


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"stages": []}, "stages"),
        ({"stages": [{"percent": 50}]}, "stages"),
        ({"stages": [{"percent": 50}, {"percent": 20}, {"percent": 100}]}, "stages[1]"),
        ({"stages": [{"percent": 100, "gate": "sometimes"}]}, "stages[0]"),
        (
            {"stages": [{"percent": 100, "min_soak_minutes": 60, "max_duration_minutes": 10}]},
            "stages[0].max_duration_minutes",
        ),
        (
            {"stages": [{"percent": 100, "max_duration_minutes": 9223372036854775808}]},
            "stages[0].max_duration_minutes",
        ),
        (
            {"stages": [{"percent": 100, "min_soak_minutes": 9223372036854775808}]},
            "stages[0].min_soak_minutes",
        ),
        (
            {"stages": [{"percent": 100, "min_soak_minutes": 10, "max_duration_minutes": 527041}]},
            "stages[0].max_duration_minutes",
        ),
        ({"stages": [{"percent": "100"}]}, "stages[0]"),
        ({"policy": {"max_failure_rate": 2}}, "policy.max_failure_rate"),
        ({"policy": {"on_halt": "explode"}}, "policy.on_halt"),
        ({"policy": {"colour": "red"}}, "policy"),
        ({"policy": {"critical_error_codes": "E1"}}, "policy.critical_error_codes"),
    ],
)
def test_a_bad_plan_is_400_and_says_where(engineer_api, approved_release, body, where):
    from rollouts.models import Rollout

    answer = create(engineer_api, approved_release, **body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_plan"
    assert where in answer.json()["error"]["detail"]
    assert Rollout.objects.count() == 0
