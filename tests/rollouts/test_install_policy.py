"""Install policies as release engineers write them (rollouts/install_policy.py)."""

from datetime import UTC, datetime

import jsonschema_rs
import pytest

from rollouts import install_policy
from rollouts.install_policy import PolicyError, describe, for_vehicle, validate
from rollouts.models.telemetry import DeferralReason
from tests.conftest import vehicle_api
from tests.factories import vehicle_payload
from vehicle_client import policy as car_policy


def test_a_policy_is_kept_in_its_normal_form():
    policy = validate(
        {
            "windows": [{"days": ["sun", "mon"], "start": "01:00", "end": "05:00"}],
            "require_parked": True,
            "min_battery_soc_pct": 30,
            "wifi_only_above_bytes": 100_000_000,
        }
    )

    assert policy == {
        "windows": [{"days": ["mon", "sun"], "start": "01:00", "end": "05:00"}],
        "require_parked": True,
        "min_battery_soc_pct": 30,
        "wifi_only_above_bytes": 100_000_000,
        "urgency": "normal",
    }
    assert validate({}) == validate({"urgency": "normal"}) == {}  # none: install when offered


MISTAKES = [
    ({"windows": [{"start": "25:00", "end": "05:00"}]}, "windows"),
    ({"windows": [{"start": "01:00", "end": "01:00"}]}, "windows"),
    ({"windows": [{"days": ["someday"], "start": "01:00", "end": "02:00"}]}, "windows"),
    ({"windows": [{"days": [["mon"]], "start": "01:00", "end": "02:00"}]}, "windows"),
    ({"windows": [{"days": [{"d": 1}], "start": "01:00", "end": "02:00"}]}, "windows"),
    ({"min_battery_soc_pct": 120}, "min_battery_soc_pct"),
    ({"require_parked": "yes"}, "require_parked"),
    ({"urgency": "asap"}, "urgency"),
    ({"urgency": "safety_recall"}, "deadline"),
    ({"urgency": "safety_recall", "deadline": "2027-01-31"}, "deadline"),  # no offset
    ({"deadline": "2027-01-31T00:00:00Z"}, "urgency"),  # a deadline without a recall
    ({"skip_soak": True}, "urgency"),  # only a recall may skip soak waits
    (
        {"urgency": "safety_recall", "deadline": "2027-01-31T00:00:00Z", "skip_soak": 1},
        "skip_soak",
    ),
    ({"when": "later"}, "policy"),
    ({"urgency": "safety_recall", "deadline": "1970-01-01T00:00:00Z"}, "deadline"),
    ({"urgency": "safety_recall", "deadline": "9999-12-31T23:59:59Z"}, "deadline"),
]
# What no JSON schema can say, left to `validate` alone (rollouts/install_policy.py).
BEYOND_THE_SCHEMA = [
    {"windows": [{"start": "01:00", "end": "01:00"}]},
    {"urgency": "safety_recall", "deadline": "1970-01-01T00:00:00Z"},
    {"urgency": "safety_recall", "deadline": "9999-12-31T23:59:59Z"},
]


@pytest.mark.parametrize(("policy", "field"), MISTAKES)
def test_each_mistake_is_named_by_its_field(policy, field):
    with pytest.raises(PolicyError) as refused:
        validate(policy)

    assert field in refused.value.problems


# ECMA regular expressions, as in JSON Schema (Python's `re` would let "01:30\n" match `$`).
POLICY_SCHEMA = jsonschema_rs.Draft4Validator(install_policy.SCHEMA, validate_formats=True)
GOOD = [
    {},
    {"urgency": "normal", "skip_soak": False},
    {
        "windows": [
            {"days": ["sun", "mon"], "start": "22:00", "end": "05:00"},
            {"start": "01:00", "end": "02:00", "days": []},
        ],
        "require_parked": True,
        "min_battery_soc_pct": 30,
        "wifi_only_above_bytes": 100_000_000,
    },
    {"urgency": "safety_recall", "deadline": "2027-01-31T00:00:00+01:00", "skip_soak": True},
    {"urgency": "safety_recall", "deadline": "2027-01-31T00:00:00Z", "max_driver_deferrals": 3},
]


@pytest.mark.parametrize("policy", GOOD)
def test_what_the_schema_allows_the_server_keeps(policy):
    assert POLICY_SCHEMA.is_valid(policy)
    validate(policy)


@pytest.mark.parametrize(("policy", "field"), MISTAKES)
def test_each_mistake_the_schema_can_say_it_refuses_too(policy, field):
    assert POLICY_SCHEMA.is_valid(policy) == (policy in BEYOND_THE_SCHEMA)


@pytest.mark.parametrize("clock", ["1:30", "01:30\n", "0\u0661:30", "24:00", "01:60"])
def test_a_window_opens_at_an_ascii_clock_time_only(clock):
    window = {"windows": [{"start": clock, "end": "05:00"}]}
    assert not POLICY_SCHEMA.is_valid(window)
    with pytest.raises(PolicyError):
        validate(window)


def test_a_recall_deadline_is_at_most_ten_years_past_the_servers_clock():
    recall = {"urgency": "safety_recall", "deadline": "2040-01-01T00:00:00Z"}
    assert validate(recall)["deadline"] == "2040-01-01T00:00:00+00:00"
    with pytest.raises(PolicyError) as refused:
        validate(recall, now=datetime(2026, 12, 7, tzinfo=UTC))
    assert refused.value.problems == {"deadline": ["A real date: from 2000-01-01 to 2036-12-07."]}


@pytest.mark.parametrize("alias", ["localtime", "posixrules", "Factory", "", "Europe/../UTC"])
def test_only_iana_time_zone_names_are_time_zones(alias):
    assert not install_policy.valid_time_zone(alias)
    assert install_policy.valid_time_zone("Europe/Paris") and install_policy.valid_time_zone("UTC")


def test_a_policy_reads_as_a_sentence():
    policy = validate(
        {
            "windows": [{"start": "01:00", "end": "05:00"}],
            "require_parked": True,
            "urgency": "safety_recall",
            "deadline": "2027-01-31T00:00:00Z",
            "max_driver_deferrals": 3,
        }
    )

    assert describe(policy) == (
        "Cars install at 01:00–05:00 daily (the car's local time), when parked. Safety "
        "recall: due 2027-01-31T00:00:00+00:00, the driver may put it off 3 times."
    )
    assert describe({}) == "Cars install as soon as they are offered."
    assert describe({**policy, "skip_soak": True}).endswith(
        "3 times. Stages advance without waiting out their soak time."
    )


def test_only_a_recall_that_says_so_skips_soak_waits():
    recall = {"urgency": "safety_recall", "deadline": "2027-01-31T00:00:00Z"}

    assert install_policy.skips_soak(validate({**recall, "skip_soak": True}))
    assert not install_policy.skips_soak(validate(recall))
    assert not install_policy.skips_soak(validate({"require_parked": True}))
    assert install_policy.deadline(validate(recall)).isoformat() == "2027-01-31T00:00:00+00:00"
    assert install_policy.deadline({}) is None


def test_the_director_signs_the_policy_with_its_format_and_the_cars_time_zone():
    policy = validate({"require_parked": True})

    assert for_vehicle(policy, "Asia/Shanghai") == {
        "version": 1,
        "require_parked": True,
        "urgency": "normal",
        "time_zone": "Asia/Shanghai",
    }
    assert for_vehicle({}, "Asia/Shanghai") == {}


@pytest.mark.django_db
def test_the_api_refuses_a_bad_policy_whole_and_keeps_a_good_one(engineer_api, publish):
    bundle, _ = publish(hardware_id="hu-gen7")
    body = {"version": "9.9.9", "notes": "", "bundles": [bundle.pk]}

    refused = engineer_api.post(
        "/api/v1/manage/releases",
        {**body, "install_policy": {"urgency": "safety_recall"}},
        format="json",
    )
    kept = engineer_api.post(
        "/api/v1/manage/releases",
        {**body, "install_policy": {"require_parked": True}},
        format="json",
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_install_policy"
    assert "deadline" in refused.json()["error"]["detail"]
    assert kept.status_code == 201, kept.json()
    assert kept.json()["install_policy"] == {"require_parked": True, "urgency": "normal"}


@pytest.mark.django_db
def test_a_deferral_says_why_with_a_known_code(provision):
    body, token = provision()
    event = {
        "id": "0b6c5e0e-9c3e-4b8e-9f44-2a1c1e3f7a10",
        "type": "install_deferred",
        "at": "2026-01-01T00:00:00Z",
        "error_code": "too_busy",
    }

    answer = vehicle_api(token).post(
        f"/api/v1/vehicles/{body['vin']}/events", {"events": [event]}, format="json"
    )

    assert answer.status_code == 400
    assert "outside_window" in str(answer.json()["error"]["detail"])


@pytest.mark.django_db
def test_a_car_reads_its_windows_in_its_own_time_zone_else_in_its_markets(engineer_api):
    def provisioned(**fields):
        return engineer_api.post(
            "/api/v1/manage/vehicles", vehicle_payload(**fields), format="json"
        )

    own = provisioned(region="EU", time_zone="Europe/Lisbon")
    markets = provisioned(region="CN")
    unknown = provisioned(time_zone="Mars/Olympus_Mons")

    assert own.json()["time_zone"] == "Europe/Lisbon"
    assert markets.json()["time_zone"] == "Asia/Shanghai"
    assert unknown.status_code == 400
    assert "time_zone" in unknown.json()["error"]["detail"]


def test_the_server_and_the_reference_car_speak_the_same_policy_format():
    # Two sides of one protocol, kept apart on purpose (the car imports nothing of the server).
    assert install_policy.POLICY_VERSION == car_policy.POLICY_VERSION
    assert install_policy.DAYS == car_policy.DAYS
    assert set(DeferralReason.values) == set(car_policy.DEFERRAL_REASONS)


@pytest.mark.django_db
def test_a_rollout_may_bring_its_own_install_policy(engineer_api, approver_api, publish):
    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "9.9.8", "bundles": [bundle.pk], "install_policy": {"require_parked": True}},
        format="json",
    ).json()
    approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")

    def rollout(channel, **own):
        body = {"release": release["id"], "channel": channel, **own}
        return engineer_api.post("/api/v1/manage/rollouts", body, format="json").json()

    inherits = rollout("dev")
    overrides = rollout("beta", install_policy={"min_battery_soc_pct": 50})

    assert inherits["install_policy"] is None
    assert inherits["effective_install_policy"] == {"require_parked": True, "urgency": "normal"}
    assert overrides["effective_install_policy"] == {
        "min_battery_soc_pct": 50,
        "urgency": "normal",
    }


@pytest.mark.django_db
def test_a_rollout_of_its_own_may_be_a_recall_that_skips_soak_waits_once_someone_else_approves(
    engineer_api, approver_api, publish
):
    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases", {"version": "9.9.9", "bundles": [bundle.pk]}, format="json"
    ).json()
    approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")
    recall = {"urgency": "safety_recall", "deadline": "2027-01-31T00:00:00Z", "skip_soak": True}

    rollout = engineer_api.post(
        "/api/v1/manage/rollouts",
        {"release": release["id"], "channel": "stable", "install_policy": recall},
        format="json",
    ).json()
    own_approval = engineer_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
    approval = approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")

    assert rollout["safety_recall"] is True
    assert rollout["effective_install_policy"]["skip_soak"] is True
    assert own_approval.status_code == 403
    assert approval.status_code == 200
