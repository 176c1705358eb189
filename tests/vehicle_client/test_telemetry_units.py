"""Nothing a car sends is half-taken: a telemetry batch is stored, moved and counted whole or
not at all, and what no car can report is refused with the item and field named."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from rollouts.models import Assignment, HealthWindow, InstallEvent, Rollout
from rollouts.services import counters
from rollouts.services.counters import totals
from rollouts.telemetry_bounds import IN_THE_FUTURE, MAX_FUTURE_SKEW

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_rollout(car, publish, ship):
    """A car offered a running rollout's release: its telemetry counts for that rollout."""
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    assert vehicle.put_manifest().status == 200
    return vehicle, Assignment.objects.get()


def post(vehicle, kind: str, items: list[dict]):
    key = "events" if kind == "events" else "windows"
    return vehicle._json("POST", f"/vehicles/{vehicle.vin}/{kind}", {key: items})


def counted(rollout_id: int) -> dict[str, int]:
    return totals(rollout=Rollout.objects.get(pk=rollout_id))


def window(vehicle, *, ending: datetime, hours: float = 1.0, **change) -> dict:
    return {**vehicle.health_window(hours=hours, end=ending), **change}


NOW = datetime.now(UTC).replace(microsecond=0)


# --- numbers no car can report ----------------------------------------------------------------


def test_an_impossible_dtc_count_refuses_the_batch_whole_naming_item_and_field(in_rollout):
    vehicle, assignment = in_rollout
    good = window(vehicle, ending=NOW - timedelta(hours=2))
    bad = window(vehicle, ending=NOW, dtcs={"P0A80": 10**19})
    answer = post(vehicle, "health", [good, bad])
    assert answer.status == 422
    error = answer.json()["error"]
    assert error["code"] == "out_of_range"
    assert error["detail"]["items"] == [
        {
            "index": 1,
            "id": bad["id"],
            "field": "dtcs.P0A80",
            "problem": "At most 100000 in one window.",
        }
    ]
    assert HealthWindow.objects.count() == 0
    assert counted(assignment.rollout_id)["control_seconds"] == 0


def test_the_reference_client_drops_what_was_refused_and_sends_the_rest(in_rollout):
    vehicle, assignment = in_rollout
    good = window(vehicle, ending=NOW - timedelta(hours=2))
    bad = window(vehicle, ending=NOW, driving_seconds=10**7)
    answer = vehicle.send_health([good, bad])
    assert answer.json() == {"accepted": 1, "duplicates": 0}
    assert vehicle.dropped == [bad]
    assert counted(assignment.rollout_id)["control_seconds"] == 3600


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"driving_seconds": 3601}, "driving_seconds"),
        ({"crashes": 100_001}, "crashes"),
        ({"reboots": 2**62}, "reboots"),
        ({"ignition_cycles": 10**20}, "ignition_cycles"),
        ({"start": (NOW - timedelta(days=40)).isoformat()}, "end"),
    ],
)
def test_numbers_beyond_reach_are_422_and_change_nothing(in_rollout, change, field):
    vehicle, _ = in_rollout
    answer = post(vehicle, "health", [window(vehicle, ending=NOW, **change)])
    assert answer.status == 422
    assert answer.json()["error"]["detail"]["items"][0]["field"] == field
    assert HealthWindow.objects.count() == 0


def test_one_car_cannot_inflate_exposure_with_overlapping_windows(in_rollout):
    """Finding 4: 500 windows of the same hour once moved control exposure by 1.4 M hours."""
    vehicle, assignment = in_rollout
    same_hour = [window(vehicle, ending=NOW) for _ in range(500)]
    answer = post(vehicle, "health", same_hour)
    assert answer.status == 422
    assert len(answer.json()["error"]["detail"]["items"]) == 499
    assert counted(assignment.rollout_id)["control_seconds"] == 0


def test_a_window_overlapping_one_accepted_before_is_refused_but_a_resend_is_a_duplicate(
    in_rollout,
):
    vehicle, assignment = in_rollout
    first = window(vehicle, ending=NOW - timedelta(hours=1))
    assert post(vehicle, "health", [first]).json() == {"accepted": 1, "duplicates": 0}
    overlapping = window(vehicle, ending=NOW - timedelta(minutes=30))
    answer = post(vehicle, "health", [overlapping])
    assert answer.status == 422
    assert answer.json()["error"]["detail"]["items"][0]["field"] == "start"
    assert post(vehicle, "health", [first]).json() == {"accepted": 0, "duplicates": 1}
    following = window(vehicle, ending=NOW)
    assert post(vehicle, "health", [following]).json() == {"accepted": 1, "duplicates": 0}
    assert counted(assignment.rollout_id)["control_seconds"] == 7200


def test_a_window_not_over_yet_is_refused_naming_its_end(in_rollout):
    vehicle, assignment = in_rollout
    now = datetime.now(UTC)
    ahead = window(vehicle, ending=now + timedelta(minutes=30))
    answer = post(vehicle, "health", [window(vehicle, ending=now - timedelta(hours=2)), ahead])
    assert answer.status == 422
    assert answer.json()["error"]["detail"]["items"] == [
        {"index": 1, "id": ahead["id"], "field": "end", "problem": IN_THE_FUTURE}
    ]
    assert counted(assignment.rollout_id)["control_seconds"] == 0


def test_a_clock_a_little_ahead_is_allowed_and_weeks_old_windows_stay_welcome(in_rollout):
    vehicle, assignment = in_rollout
    now = datetime.now(UTC)
    parked = window(vehicle, ending=now - timedelta(weeks=3))
    skewed = window(vehicle, ending=now + MAX_FUTURE_SKEW - timedelta(seconds=30))
    assert post(vehicle, "health", [parked, skewed]).json() == {"accepted": 2, "duplicates": 0}
    assert counted(assignment.rollout_id)["control_seconds"] == 7200


def test_an_event_dated_in_the_future_is_refused_naming_its_time(in_rollout):
    vehicle, assignment = in_rollout
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    event = vehicle.event("install_failed", str(assignment.pk), "", at=later)
    answer = post(vehicle, "events", [event])
    assert answer.status == 422
    assert answer.json()["error"]["detail"]["items"] == [
        {"index": 0, "id": event["id"], "field": "at", "problem": IN_THE_FUTURE}
    ]
    assignment.refresh_from_db()
    assert assignment.status == "offered"
    assert not InstallEvent.objects.exists()


# --- one unit: stored and counted together, or neither ----------------------------------------


class Boom(Exception):
    pass


@pytest.fixture
def counting_fails_once(monkeypatch, in_rollout):
    """The first counter write of the next batch fails, as a dropped connection would."""
    vehicle, _ = in_rollout
    vehicle.transport.client.raise_request_exception = False
    real = counters._add
    calls = []

    def fail_first(*args):
        calls.append(args)
        if len(calls) == 1:
            raise Boom("connection lost")
        return real(*args)

    monkeypatch.setattr(counters, "_add", fail_first)
    return calls


def test_an_event_batch_that_fails_while_counting_is_not_stored_and_its_retry_counts(
    in_rollout, counting_fails_once
):
    vehicle, assignment = in_rollout
    failed = vehicle.event("install_failed", str(assignment.pk), "HU", error_code="E42")
    assert post(vehicle, "events", [failed]).status == 500
    assert InstallEvent.objects.count() == 0
    assignment.refresh_from_db()
    assert assignment.status == "offered"

    assert post(vehicle, "events", [failed]).json() == {"accepted": 1, "duplicates": 0}
    assignment.refresh_from_db()
    assert assignment.status == "failed"
    assert counted(assignment.rollout_id)["failed_install"] == 1


def test_a_health_batch_that_fails_while_counting_is_not_stored_and_its_retry_counts(
    in_rollout, counting_fails_once
):
    vehicle, assignment = in_rollout
    windows = [window(vehicle, ending=NOW - timedelta(hours=h)) for h in (2, 0)]
    assert post(vehicle, "health", windows).status == 500
    assert HealthWindow.objects.count() == 0
    assert post(vehicle, "health", windows).json() == {"accepted": 2, "duplicates": 0}
    assert counted(assignment.rollout_id)["control_seconds"] == 7200


# --- ids and text -----------------------------------------------------------------------------


def test_a_correlation_id_in_capitals_still_moves_its_assignment(in_rollout):
    """Finding 5: a client that writes UUIDs in upper case had its failures not counted."""
    vehicle, assignment = in_rollout
    shouted = str(assignment.pk).upper()
    event = vehicle.event("install_failed", shouted, "HU", error_code="E42")
    assert post(vehicle, "events", [event]).json() == {"accepted": 1, "duplicates": 0}
    assignment.refresh_from_db()
    assert assignment.status == "failed"
    assert InstallEvent.objects.get().assignment_id == assignment.pk
    assert counted(assignment.rollout_id)["failed_install"] == 1


@pytest.mark.parametrize("text", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
def test_nul_and_lone_surrogates_are_400_in_a_health_batch_on_either_database(car, text):
    vehicle = car()
    answer = post(vehicle, "health", [window(vehicle, ending=NOW, dtcs={f"P0{text}": 1})])
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "malformed_request"
    assert HealthWindow.objects.count() == 0


@pytest.mark.parametrize("text", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
def test_nul_and_lone_surrogates_are_400_in_a_management_body_too(engineer_api, text):
    body = json.dumps({"version": "v1", "notes": f"bad{text}", "bundles": [1]})
    answer = engineer_api.post("/api/v1/manage/releases", body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_request"


def test_a_sha256_longer_than_one_is_400_not_a_database_error(car):
    """Finding 3: the check allowed 128 characters where the column holds 64."""
    vehicle = car()
    manifest = vehicle.manifest()
    report = next(iter(manifest["signed"]["ecu_version_reports"].values()))
    report["signed"]["installed_image"]["fileinfo"]["hashes"]["sha256"] = "a" * 65
    answer = vehicle.put_manifest(manifest)
    assert answer.status == 400
    assert "sha256" in json.dumps(answer.json()["error"]["detail"])


def test_an_unknown_correlation_id_in_any_spelling_attributes_nothing(car):
    vehicle = car()
    event = vehicle.event("install_failed", str(uuid.uuid4()).upper(), "HU")
    assert post(vehicle, "events", [event]).status == 200
    assert InstallEvent.objects.get().assignment is None


def test_a_manifest_with_nul_in_its_state_is_400_from_the_parser(car):
    vehicle = car()
    manifest = vehicle.manifest()
    manifest["signed"]["state"] = {"key\x00": 1}
    answer = vehicle.put_manifest(manifest)
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "malformed_request"


# --- strict JSON types ------------------------------------------------------------------------


@pytest.mark.parametrize("not_a_string", [False, True, 12345])
def test_an_event_id_that_is_not_a_json_string_is_refused_and_nothing_is_stored(
    in_rollout, not_a_string
):
    vehicle, _ = in_rollout
    event = {**vehicle.event("download_started", "", ""), "id": not_a_string}
    answer = post(vehicle, "events", [event])
    assert answer.status == 400
    assert "id" in json.dumps(answer.json()["error"]["detail"])
    assert InstallEvent.objects.count() == 0


@pytest.mark.parametrize("not_a_string", [False, True, 12345])
def test_a_window_id_that_is_not_a_json_string_is_refused(in_rollout, not_a_string):
    vehicle, _ = in_rollout
    answer = post(vehicle, "health", [window(vehicle, ending=NOW, id=not_a_string)])
    assert answer.status == 400
    assert HealthWindow.objects.count() == 0


@pytest.mark.parametrize("not_a_number", ["1.5", True, None])
def test_a_window_metric_that_is_not_a_json_number_is_refused(in_rollout, not_a_number):
    vehicle, _ = in_rollout
    answer = post(vehicle, "health", [window(vehicle, ending=NOW, metrics={"x": not_a_number})])
    assert answer.status == 400
    assert HealthWindow.objects.count() == 0
