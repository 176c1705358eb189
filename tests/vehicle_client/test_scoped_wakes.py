"""A change to a rollout wakes only the cars whose answer it can change; the others go on
polling idle (rollouts/reach.py). The full re-decision behind every idle poll stays on here
(`OTA_VERIFY_IDLE_POLLS`): a car left idle whose answer did change fails the test."""

import pytest

from rollouts.models import Rollout
from rollouts.services import manifests
from rollouts.targeting import bucket

pytestmark = pytest.mark.django_db

TEN_THEN_TWENTY = [
    {"percent": 10, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
    {"percent": 20, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
    {"percent": 100, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
]
AURORA_UNCHANGED = [
    {"model": "Aurora", "affects_type_approval": False, "rationale": "No regulated change."}
]


@pytest.fixture
def full_decisions(monkeypatch):
    """The VINs of the polls that took the full decision, in order."""
    taken: list[str] = []
    decide = manifests._receive_and_decide

    def counted(vehicle_pk, *args, **kwargs):
        answer = decide(vehicle_pk, *args, **kwargs)
        taken.append(manifests.Vehicle.objects.get(pk=vehicle_pk).vin)
        return answer

    monkeypatch.setattr(manifests, "_receive_and_decide", counted)
    return taken


def offered(vehicle) -> list[str]:
    return [target.path for target in vehicle.refresh_and_verify()]


def settled(vehicle):
    """Polled until idle: what changed before is decided."""
    assert vehicle.put_manifest().status == 200
    assert vehicle.put_manifest().status == 200
    return vehicle


def car_in(car, salt: str, low: int, high: int, **kwargs):
    """A new car whose bucket of the rollout with this salt lies in [low, high) percent."""
    return next(
        v
        for v in iter(lambda: car(**kwargs), None)
        if low * 100 <= bucket(salt, v.vin) < high * 100
    )


def test_an_advance_wakes_only_the_cars_it_brings_into_the_rollout(
    car, publish, ship, approver_api, full_decisions
):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=TEN_THEN_TWENTY)
    salt = Rollout.objects.get(pk=rollout_id).salt
    first = settled(car_in(car, salt, 0, 10))
    brought_in = settled(car_in(car, salt, 10, 20))
    beyond = settled(car_in(car, salt, 20, 100))
    full_decisions.clear()

    advanced = approver_api.post(f"/api/v1/manage/rollouts/{rollout_id}/advance")
    assert advanced.status_code == 200, advanced.json()
    for vehicle in (first, brought_in, beyond):
        assert vehicle.put_manifest().status == 200

    assert full_decisions == [brought_in.vin]
    assert offered(brought_in) == [bundle.path]
    assert offered(first) == [bundle.path]
    assert offered(beyond) == []


@pytest.mark.parametrize("action", ["pause", "halt"])
def test_a_pause_or_a_stop_halt_wakes_no_car_it_made_no_offer_to_and_is_obeyed_at_once(
    action, car, publish, ship, engineer_api, full_decisions, django_capture_on_commit_callbacks
):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=TEN_THEN_TWENTY, policy={"on_halt": "stop"})
    salt = Rollout.objects.get(pk=rollout_id).salt
    outside = settled(car_in(car, salt, 10, 100))
    not_yet_polled = car_in(car, salt, 0, 10)
    full_decisions.clear()

    with django_capture_on_commit_callbacks(execute=True):  # and the wake after it
        stopped = engineer_api.post(
            f"/api/v1/manage/rollouts/{rollout_id}/{action}", {"reason": "look"}, format="json"
        )
    assert stopped.status_code == 200, stopped.json()
    for vehicle in (outside, not_yet_polled):
        assert vehicle.put_manifest().status == 200

    assert full_decisions == [not_yet_polled.vin]  # its first decision, not a wake
    assert offered(not_yet_polled) == []  # no new offer


def test_a_pause_wakes_the_cars_it_made_an_offer_to_after_its_commit(
    car,
    publish,
    ship,
    approver_api,
    engineer_api,
    full_decisions,
    django_capture_on_commit_callbacks,
):
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], channel="beta")
    moved = settled(car())  # offered on stable, then moved to beta: a paused rollout's kept
    _, rollout_id = ship([bundle])  # offer follows it, a running one's does not
    settled(moved)
    assert offered(moved) == [bundle.path]
    answer = engineer_api.put(
        f"/api/v1/manage/vehicles/{moved.vin}/channel", {"channel": "beta"}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    settled(moved)
    full_decisions.clear()

    with django_capture_on_commit_callbacks(execute=True):  # the wake runs after the commit
        paused = approver_api.post(
            f"/api/v1/manage/rollouts/{rollout_id}/pause", {"reason": "look"}, format="json"
        )
    assert paused.status_code == 200, paused.json()
    assert moved.put_manifest().status == 200

    assert full_decisions == [moved.vin]


def test_a_market_approval_wakes_only_the_cars_of_that_market(
    type_approval, aurora_rxswins, car, publish, ship, homologation_api, full_decisions
):
    aurora_rxswins("EU", "CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id, _ = ship([bundle], regions=["EU", "CN"], markets={"CN": AURORA_UNCHANGED})
    eu, cn = settled(car(region="EU")), settled(car(region="CN"))
    assert offered(eu) == [] and offered(cn) == [bundle.path]
    full_decisions.clear()

    approved = homologation_api.post(
        f"/api/v1/manage/releases/{release_id}/markets/EU/approve",
        {"assessments": AURORA_UNCHANGED},
        format="json",
    )
    assert approved.status_code == 201, approved.json()
    for vehicle in (eu, cn):
        assert vehicle.put_manifest().status == 200

    assert full_decisions == [eu.vin]
    assert offered(eu) == [bundle.path]


def test_the_wake_reaches_every_car_the_rollout_made_an_offer_to_batch_by_batch_task_by_task(
    car, publish, ship, monkeypatch
):
    from rollouts.models import Vehicle
    from rollouts.services import decisions

    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])
    offered_cars = [settled(car()) for _ in range(5)]
    versions = dict(Vehicle.objects.values_list("vin", "inputs_version"))
    monkeypatch.setattr(decisions, "BATCH", 2)
    queued = []
    monkeypatch.setattr(decisions, "async_task", lambda *args: queued.append(args))

    assert decisions.wake_assigned(rollout_id=rollout_id, batches=2) == 4
    assert queued == [("rollouts.tasks.wake_assigned", rollout_id, queued[0][2])]
    assert decisions.wake_assigned(rollout_id=rollout_id, after=queued[0][2], batches=2) == 1

    after = dict(Vehicle.objects.values_list("vin", "inputs_version"))
    assert all(after[v.vin] == versions[v.vin] + 1 for v in offered_cars)


def test_a_resume_wakes_the_cars_of_the_stage_only(
    car, publish, ship, approver_api, full_decisions
):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=TEN_THEN_TWENTY)
    salt = Rollout.objects.get(pk=rollout_id).salt
    paused = approver_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/pause", {"reason": "look"}, format="json"
    )
    assert paused.status_code == 200, paused.json()
    waiting = settled(car_in(car, salt, 0, 10))  # decided while paused: nothing
    outside = settled(car_in(car, salt, 10, 100))
    assert offered(waiting) == []
    full_decisions.clear()

    resumed = approver_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/resume", {"reason": "fine"}, format="json"
    )
    assert resumed.status_code == 200, resumed.json()
    for vehicle in (waiting, outside):
        assert vehicle.put_manifest().status == 200

    assert full_decisions == [waiting.vin]
    assert offered(waiting) == [bundle.path]


def test_a_completion_wakes_the_cars_of_the_earlier_channels(
    car, publish, ship, approver_api, full_decisions
):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], channel="beta")
    on_beta, on_stable = settled(car(channel="beta")), settled(car())
    on_dev = settled(car(channel="dev"))
    full_decisions.clear()

    completed = approver_api.post(f"/api/v1/manage/rollouts/{rollout_id}/advance")
    assert completed.status_code == 200, completed.json()
    for vehicle in (on_beta, on_stable, on_dev):
        assert vehicle.put_manifest().status == 200

    assert full_decisions == [on_dev.vin]  # offered now: beta's release passed through dev
    assert offered(on_dev) == [bundle.path]
    assert offered(on_stable) == []


def test_a_bundle_copy_verified_in_a_market_wakes_only_that_markets_cars(
    car, publish, ship, full_decisions
):
    from signing.models import BundleCopy
    from signing.services.copies import bundle_copy_verified

    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    eu, cn = settled(car(region="EU")), settled(car(region="CN"))
    full_decisions.clear()

    bundle_copy_verified.send(sender=BundleCopy, bundle=bundle, market="EU")
    for vehicle in (eu, cn):
        assert vehicle.put_manifest().status == 200

    assert full_decisions == [eu.vin]
