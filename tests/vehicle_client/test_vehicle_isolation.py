"""Vehicle A can never read or write vehicle B."""

import pytest

pytestmark = pytest.mark.django_db


def as_other(vehicle, other):
    """Vehicle A's client aimed at vehicle B's paths."""
    vehicle.vin = other.vin
    return vehicle


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.transport.request(
            "GET", f"{c.api}/tuf/director/{c.vin}/metadata/timestamp.json", headers=c._headers()
        ),
        lambda c: c.transport.request(
            "GET", f"{c.api}/tuf/director/{c.vin}/metadata/1.root.json", headers=c._headers()
        ),
        lambda c: c.send_events([c.event("download_started", "", "")]),
        lambda c: c.send_health([c.health_window()]),
        lambda c: c.set_channel("forever-beta", terms_version="2026-01"),
        lambda c: c._json("PUT", f"/vehicles/{c.vin}/manifest", {"signed": {}, "signatures": []}),
        lambda c: c.transport.request("GET", f"{c.api}/vehicles/{c.vin}", headers=c._headers()),
    ],
    ids=["director timestamp", "director root", "events", "health", "channel", "manifest", "self"],
)
def test_a_token_is_refused_on_another_vehicles_paths(car, call):
    vehicle_a, vehicle_b = car(), car()
    answer = call(as_other(vehicle_a, vehicle_b))
    assert answer.status == 403
    assert answer.json()["error"]["code"] == "vin_mismatch"


def test_an_event_cannot_be_attributed_to_another_vehicles_assignment(car, publish, ship):
    from rollouts.models import Assignment, InstallEvent

    vehicle_a, vehicle_b = car(), car()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle_b.put_manifest()
    assignment_b = Assignment.objects.get(vehicle__vin=vehicle_b.vin)

    vehicle_a.send_events([vehicle_a.event("install_failed", str(assignment_b.pk), "X")])

    assignment_b.refresh_from_db()
    assert assignment_b.status == "offered"
    assert InstallEvent.objects.get().assignment is None


def test_director_metadata_needs_a_token(car):
    vehicle = car()
    answer = vehicle.transport.request(
        "GET", f"{vehicle.api}/tuf/director/{vehicle.vin}/metadata/timestamp.json", headers={}
    )
    assert answer.status == 401
