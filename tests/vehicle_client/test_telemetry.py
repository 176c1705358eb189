"""Events and health windows: idempotent, validated, attributed."""

import uuid

import pytest

from rollouts.models import Assignment, HealthWindow, InstallEvent

pytestmark = pytest.mark.django_db


def test_a_duplicated_event_id_is_counted_once(car):
    vehicle = car()
    event = vehicle.event("download_started", "", "")
    first = vehicle.send_events([event, event, vehicle.event("download_completed", "", "")])
    again = vehicle.send_events([event])
    assert first.json() == {"accepted": 2, "duplicates": 1}
    assert again.json() == {"accepted": 0, "duplicates": 1}
    assert InstallEvent.objects.count() == 2


def test_events_move_the_assignment_through_its_lifecycle(car, publish, ship):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle.put_manifest()
    assignment = Assignment.objects.get()
    correlation = str(assignment.pk)

    vehicle.send_events([vehicle.event("download_started", correlation, "HU")])
    assignment.refresh_from_db()
    assert assignment.status == "downloading"
    vehicle.send_events([vehicle.event("install_failed", correlation, "HU", error_code="E42")])
    assignment.refresh_from_db()
    assert assignment.status == "failed"
    assert assignment.finished_at is not None


def test_a_failed_install_is_reported_and_not_offered_again(car, publish, ship):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    result = vehicle.poll_cycle(outcome="failure", error_code="E_FLASH")
    assert result.failed
    assert Assignment.objects.get().status == "failed"
    assert vehicle.poll_cycle().offered == []


def test_a_batch_over_500_is_refused(car):
    vehicle = car()
    answer = vehicle.send_events([vehicle.event("download_started", "", "") for _ in range(501)])
    assert answer.status == 400
    assert InstallEvent.objects.count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"type": "exploded"},
        {"id": "not-a-uuid"},
        {"at": "yesterday"},
        {"colour": "red"},
        {"detail": "x" * 3000},
    ],
)
def test_bad_events_are_400_and_nothing_is_stored(car, change):
    vehicle = car()
    events = [
        vehicle.event("download_started", "", ""),
        {**vehicle.event("install_started", "", ""), **change},
    ]
    answer = vehicle.send_events(events)
    assert answer.status == 400
    assert InstallEvent.objects.count() == 0


def test_health_windows_are_idempotent_and_remember_what_was_installed(car):
    vehicle = car()
    vehicle.put_manifest()
    window = vehicle.health_window(hours=2, crashes=1, dtcs={"P0A80": 2})
    assert vehicle.send_health([window, window]).json() == {"accepted": 1, "duplicates": 1}
    stored = HealthWindow.objects.get()
    assert stored.driving_seconds == 7200
    assert stored.dtcs == {"P0A80": 2}
    assert all(path.endswith("factory.bin") for path in stored.installed.values())
    assert stored.release is None  # nothing installed by a rollout yet: a control window


@pytest.mark.parametrize(
    "change",
    [
        {"crashes": -1},
        {"driving_seconds": "3600"},
        {"dtcs": {"P0A80": "two"}},
        {"end": "2020-01-01T00:00:00Z"},
    ],
)
def test_bad_health_windows_are_400(car, change):
    vehicle = car()
    answer = vehicle.send_health([{**vehicle.health_window(), **change}])
    assert answer.status == 400
    assert HealthWindow.objects.count() == 0


def test_an_unknown_correlation_id_is_kept_but_attributes_nothing(car):
    vehicle = car()
    vehicle.send_events([vehicle.event("install_failed", str(uuid.uuid4()), "HU")])
    assert InstallEvent.objects.get().assignment is None
