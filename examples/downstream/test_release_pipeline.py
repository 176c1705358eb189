"""A downstream team's suite: plain pytest with the `ota-rollouts` plugin, nothing else.

pip install ota-rollouts pytest && pytest
"""

STAGES = [
    {"percent": 50, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
]
POLICY = {"max_failure_rate": 0.25, "min_finished": 5, "min_exposure_hours": 5}


def test_a_bad_build_halts_in_stage_one(ota_fleet, ota_bundle, ota_release, ota_rollout):
    fleet = ota_fleet(40, hardware_ids=["tcu-gen3", "hu-gen7"])
    release = ota_release([ota_bundle(b"a bad head-unit build", hardware_id="hu-gen7")])
    rollout = ota_rollout(release, fleet=fleet, stages=STAGES, policy=POLICY)

    fleet.poll(fail=0.75)  # three installs in four fail
    rollout.evaluate()

    assert rollout.status == "halted"
    assert rollout.stage_index == 0
    assert rollout.halt_reason["metric"] == "install_failure_rate"
    assert rollout.halt_description.startswith("Install failure rate in stage 1 of 2")


def test_a_good_build_completes_every_stage(ota_fleet, ota_bundle, ota_release, ota_rollout):
    fleet = ota_fleet(40, hardware_ids=["tcu-gen3", "hu-gen7"])
    release = ota_release([ota_bundle(b"a good head-unit build", hardware_id="hu-gen7")])
    rollout = ota_rollout(release, fleet=fleet, stages=STAGES, policy=POLICY)

    for _stage in STAGES:
        fleet.poll()
        fleet.drive(hours=1.5, crashes_per_hour=0.01)  # the server's clock moves on with them
        rollout.evaluate()  # soaked and healthy: the next stage, then complete

    assert rollout.status == "completed"
    assert len(fleet.updated()) == 40


def test_a_build_that_crashes_cars_halts_on_their_health(
    ota_fleet, ota_bundle, ota_release, ota_rollout
):
    fleet = ota_fleet(40, hardware_ids=["tcu-gen3", "hu-gen7"])
    release = ota_release([ota_bundle(b"a head unit that reboots", hardware_id="hu-gen7")])
    rollout = ota_rollout(release, fleet=fleet, stages=STAGES, policy=POLICY)

    fleet.poll()
    fleet.drive(hours=10, crashes_per_hour=0.05, after_install=0.5)  # ten times the crashes
    rollout.evaluate()

    assert rollout.status == "halted"
    assert rollout.halt_reason["metric"] == "crashes_per_hour_ratio"


def test_every_car_verifies_what_it_installs(ota_fleet, ota_bundle, ota_release, ota_rollout):
    fleet = ota_fleet(3, hardware_ids=["hu-gen7"])
    bundle = ota_bundle(b"a head-unit build" * 1000, hardware_id="hu-gen7")
    ota_rollout(ota_release([bundle]), fleet=fleet, stages=[{**STAGES[1], "percent": 100}])

    results = fleet.poll_cycle()  # signed manifest, TUF refresh of both repositories, install

    assert [result.installed for result in results] == [[car.primary.serial] for car in fleet]
    assert {car.primary.installed.sha256 for car in fleet} == {bundle["hashes"]["sha256"]}
