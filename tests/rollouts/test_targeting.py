"""The decision of what each ECU should have, checked rule by rule."""

import pytest

from rollouts.targeting import (
    BundleOption,
    Candidate,
    CohortRule,
    EcuState,
    InstalledRule,
    VehicleState,
    decide,
    in_cohort,
)


def bundle(hardware_id="hu-gen7", counter=720, requires=None, sha="") -> BundleOption:
    return BundleOption(
        path=f"{hardware_id}/{counter}.bin",
        hardware_id=hardware_id,
        release_counter=counter,
        length=10,
        sha256=sha or f"{hardware_id}-{counter}",
        sha512="x",
        requires=requires or {},
    )


def car(*ecus: EcuState, model="Aurora", region="EU") -> VehicleState:
    return VehicleState("VIN", model, region, ecus or (EcuState("HU1", "hu-gen7"),))


def release(*bundles, rollout=1, newness=1, **kwargs) -> Candidate:
    return Candidate(
        rollout_id=rollout,
        release_id=rollout,
        newness=newness,
        bundles=bundles or (bundle(),),
        **kwargs,
    )


def serials(decision) -> list[tuple[str, str]]:
    return [(t.ecu_serial, t.bundle.path) for t in decision.targets]


def test_an_ecu_with_a_factory_image_is_offered_the_bundle_for_its_hardware():
    decision = decide(car(), [release()])
    assert serials(decision) == [("HU1", "hu-gen7/720.bin")]
    assert decision.rollout_id == 1


def test_a_bundle_for_hardware_the_vehicle_lacks_is_not_offered():
    assert decide(car(), [release(bundle("adas-x1", 10))]).empty


def test_a_downgrade_is_never_offered():
    vehicle = car(EcuState("HU1", "hu-gen7", installed_sha256="newer", installed_counter=800))
    assert decide(vehicle, [release(bundle(counter=720))]).empty


def test_the_same_counter_with_other_bytes_is_not_offered():
    vehicle = car(EcuState("HU1", "hu-gen7", installed_sha256="other", installed_counter=720))
    assert decide(vehicle, [release(bundle(counter=720))]).empty


def test_an_installed_release_needs_nothing_more():
    vehicle = car(EcuState("HU1", "hu-gen7", installed_sha256="hu-gen7-720", installed_counter=720))
    assert decide(vehicle, [release()]).empty


def test_a_release_is_offered_whole_or_not_at_all():
    vehicle = car(
        EcuState("HU1", "hu-gen7", installed_counter=100),
        EcuState("BMS1", "bms-v2", installed_sha256="other", installed_counter=205),
    )
    # The bms part conflicts (same counter, other bytes), so the head unit is not offered alone.
    assert decide(vehicle, [release(bundle(), bundle("bms-v2", 205))]).empty


def test_a_part_superseded_by_newer_software_is_skipped_and_the_rest_offered():
    vehicle = car(
        EcuState("HU1", "hu-gen7", installed_sha256="newer", installed_counter=730),
        EcuState("TCU1", "tcu-gen3"),
    )
    decision = decide(vehicle, [release(bundle(counter=720), bundle("tcu-gen3", 341))])
    assert serials(decision) == [("TCU1", "tcu-gen3/341.bin")]


def test_both_parts_of_a_release_are_offered_together():
    vehicle = car(EcuState("HU1", "hu-gen7"), EcuState("BMS1", "bms-v2"))
    decision = decide(vehicle, [release(bundle(), bundle("bms-v2", 205))])
    assert sorted(serials(decision)) == [("BMS1", "bms-v2/205.bin"), ("HU1", "hu-gen7/720.bin")]


def test_a_requirement_met_by_what_is_installed_allows_the_offer():
    vehicle = car(EcuState("HU1", "hu-gen7"), EcuState("BMS1", "bms-v2", installed_counter=210))
    assert not decide(vehicle, [release(bundle(requires={"bms-v2": 205}))]).empty


def test_a_requirement_met_by_the_same_release_allows_the_offer():
    vehicle = car(EcuState("HU1", "hu-gen7"), EcuState("BMS1", "bms-v2", installed_counter=100))
    offer = release(bundle(requires={"bms-v2": 205}), bundle("bms-v2", 205))
    assert len(decide(vehicle, [offer]).targets) == 2


def test_an_unmet_requirement_blocks_the_release():
    vehicle = car(EcuState("HU1", "hu-gen7"), EcuState("BMS1", "bms-v2", installed_counter=100))
    assert decide(vehicle, [release(bundle(requires={"bms-v2": 205}))]).empty
    assert decide(car(), [release(bundle(requires={"bms-v2": 205}))]).empty  # no bms at all


def test_model_and_region_constraints_hold():
    offer = release(models=frozenset({"Borealis"}), regions=frozenset({"US"}))
    assert decide(car(model="Aurora", region="US"), [offer]).empty
    assert decide(car(model="Borealis", region="EU"), [offer]).empty
    assert not decide(car(model="Borealis", region="US"), [offer]).empty


def test_the_newest_release_wins():
    decision = decide(
        car(),
        [
            release(bundle(counter=720), rollout=1, newness=1),
            release(bundle(counter=730), rollout=2, newness=2),
        ],
    )
    assert decision.rollout_id == 2


def test_an_install_under_way_is_kept_over_a_newer_release():
    decision = decide(
        car(),
        [
            release(bundle(counter=720), rollout=1, newness=1, in_progress=True),
            release(bundle(counter=730), rollout=2, newness=2),
        ],
    )
    assert decision.rollout_id == 1


def test_a_safety_recall_comes_before_a_newer_release_but_not_before_an_install_under_way():
    recall = release(bundle(counter=725), rollout=1, newness=1, recall=True)
    newer = release(bundle(counter=730), rollout=2, newness=2)
    started = release(bundle(counter=730), rollout=2, newness=2, in_progress=True)

    assert decide(car(), [newer, recall]).rollout_id == 1
    assert decide(car(), [started, recall]).rollout_id == 2


def test_a_recall_the_car_has_outgrown_gives_way():
    newer_installed = EcuState("HU1", "hu-gen7", installed_sha256="x", installed_counter=730)
    recall = release(bundle(counter=725), rollout=1, newness=1, recall=True)
    newer = release(bundle(counter=740), rollout=2, newness=2)

    assert decide(car(newer_installed), [recall, newer]).rollout_id == 2


def test_an_older_release_applies_when_the_newest_does_not():
    vehicle = car(EcuState("HU1", "hu-gen7"), model="Aurora")
    newest = release(bundle(counter=730), rollout=2, newness=2, models=frozenset({"Ember"}))
    older = release(bundle(counter=720), rollout=1, newness=1)
    assert decide(vehicle, [newest, older]).rollout_id == 1


def test_a_release_counts_as_installed_when_every_part_is_installed_or_superseded():
    from rollouts.targeting import release_satisfied

    offer = release(bundle(counter=720), bundle("tcu-gen3", 341))
    newer_head_unit = EcuState("HU1", "hu-gen7", installed_sha256="x", installed_counter=730)
    assert not release_satisfied(car(newer_head_unit, EcuState("TCU1", "tcu-gen3")), offer)
    tcu_done = EcuState("TCU1", "tcu-gen3", installed_sha256="tcu-gen3-341", installed_counter=341)
    assert release_satisfied(car(newer_head_unit, tcu_done), offer)


def test_two_ecus_of_the_same_hardware_each_get_the_bundle():
    vehicle = car(EcuState("CAM1", "cam-v1"), EcuState("CAM2", "cam-v1"))
    assert len(decide(vehicle, [release(bundle("cam-v1", 5))]).targets) == 2


def test_buckets_are_stable_keyed_and_spread_evenly():
    from rollouts.targeting import bucket

    vins = [f"VIN{n:014d}" for n in range(20_000)]
    assert bucket("salt", vins[0]) == bucket("salt", vins[0])
    assert [bucket("a", v) for v in vins[:50]] != [bucket("b", v) for v in vins[:50]]
    below_ten_percent = sum(bucket("salt", v) < 1000 for v in vins) / len(vins)
    assert below_ten_percent == pytest.approx(0.10, abs=0.01)


def test_raising_the_percentage_only_adds_vehicles():
    from rollouts.targeting import in_stage

    vins = [f"VIN{n:014d}" for n in range(5000)]
    chosen = {}
    for percent in (1, 5, 20, 50, 100):
        offer = release(salt="s", percent=percent)
        chosen[percent] = {v for v in vins if in_stage(v, offer)}
    assert chosen[1] <= chosen[5] <= chosen[20] <= chosen[50] <= chosen[100] == set(vins)
    assert len(chosen[5]) == pytest.approx(250, abs=60)


def test_a_vehicle_already_offered_stays_in_whatever_its_bucket():
    offer = release(salt="s", percent=0.01)
    outside = next(
        f"VIN{n:014d}"
        for n in range(100)
        if not decide(
            VehicleState(f"VIN{n:014d}", "Aurora", "EU", (EcuState("HU1", "hu-gen7"),)), [offer]
        ).targets
    )
    vehicle = VehicleState(outside, "Aurora", "EU", (EcuState("HU1", "hu-gen7"),))
    assert decide(vehicle, [release(salt="s", percent=0.01, assigned=True)]).targets


# --- cohorts ----------------------------------------------------------------------------------


def test_a_static_cohort_takes_only_the_vehicles_it_lists():
    listed = release(cohort=CohortRule(static=True), cohort_member=True)
    unlisted = release(cohort=CohortRule(static=True), cohort_member=False)
    assert decide(car(), [listed]).targets
    assert decide(car(), [unlisted]).empty


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        (CohortRule(models=frozenset({"Aurora"})), True),
        (CohortRule(models=frozenset({"Ember"})), False),
        (CohortRule(regions=frozenset({"EU", "US"})), True),
        (CohortRule(regions=frozenset({"CN"})), False),
        (CohortRule(hardware_ids=frozenset({"tcu-gen3"})), True),
        (CohortRule(hardware_ids=frozenset({"adas-x1"})), False),
        (CohortRule(models=frozenset({"Aurora"}), regions=frozenset({"CN"})), False),
    ],
    ids=["model", "other model", "region", "other region", "hardware", "absent hardware", "all"],
)
def test_a_filter_cohort_needs_every_part_it_gives(rule, holds):
    vehicle = car(EcuState("HU1", "hu-gen7"), EcuState("TCU1", "tcu-gen3"))
    assert in_cohort(vehicle, rule) is holds


@pytest.mark.parametrize(
    ("installed", "holds"),
    [
        (InstalledRule("hu-gen7", versions=frozenset({"7.0.1"})), True),
        (InstalledRule("hu-gen7", versions=frozenset({"7.1.0"})), False),
        (InstalledRule("hu-gen7", min_counter=700, max_counter=700), True),
        (InstalledRule("hu-gen7", max_counter=699), False),
        (InstalledRule("hu-gen7", min_counter=701), False),
        (InstalledRule("tcu-gen3", max_counter=0), True),  # an unknown image counts as 0
        (InstalledRule("tcu-gen3", versions=frozenset({"3.0"})), False),
        (InstalledRule("adas-x1", max_counter=10**6), False),
    ],
    ids=[
        "version",
        "other version",
        "counter range",
        "below",
        "above",
        "unknown image is 0",
        "unknown image has no version",
        "no such ecu",
    ],
)
def test_a_filter_on_installed_software_looks_at_the_ecus_of_that_hardware(installed, holds):
    vehicle = car(
        EcuState("HU1", "hu-gen7", "hu-700", installed_counter=700, installed_version="7.0.1"),
        EcuState("TCU1", "tcu-gen3", "factory"),
    )
    assert in_cohort(vehicle, CohortRule(installed=(installed,))) is holds


def test_a_vehicle_offered_the_release_stays_in_the_cohort_it_has_since_left():
    old_firmware = CohortRule(installed=(InstalledRule("hu-gen7", max_counter=699),))
    updated = car(EcuState("HU1", "hu-gen7", "hu-710", installed_counter=710))
    offer = release(bundle(counter=720), cohort=old_firmware)
    kept = release(bundle(counter=720), cohort=old_firmware, assigned=True)

    assert decide(updated, [offer]).empty
    assert decide(updated, [kept]).targets


def test_a_cohort_does_not_widen_the_release_constraints():
    everyone_in_eu = CohortRule(regions=frozenset({"EU"}))
    offer = release(cohort=everyone_in_eu, models=frozenset({"Ember"}), assigned=True)
    assert decide(car(model="Aurora"), [offer]).empty


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"hardware_id": "hu-gen7", "versions": ["7.2.0"]}, "hu-gen7 runs 7.2.0"),
        (
            {"hardware_id": "hu-gen7", "max_counter": 719},
            "hu-gen7 runs release counter 719 or below",
        ),
        (
            {
                "hardware_id": "bms-v2",
                "versions": ["2.0", "2.1"],
                "min_counter": 1,
                "max_counter": 9,
            },
            "bms-v2 runs 2.0 or 2.1, release counter 1 to 9",
        ),
    ],
)
def test_an_installed_rule_reads_as_a_sentence(rule, words):
    from rollouts.cohorts import describe_installed

    assert describe_installed(rule) == words


def test_a_release_is_offered_in_a_market_only_once_every_bundle_has_a_copy_there():
    from dataclasses import replace

    head_unit, telematics = bundle(), bundle("tcu-gen3", 341)
    vehicle = car(EcuState("HU1", "hu-gen7"), EcuState("TCU1", "tcu-gen3"), region="CN")
    not_yet = release(head_unit, replace(telematics, missing_in=frozenset({"CN"})))

    assert decide(vehicle, [not_yet]).empty  # together or not at all
    assert not decide(car(EcuState("HU1", "hu-gen7"), region="EU"), [not_yet]).empty
    assert not decide(vehicle, [release(head_unit, telematics)]).empty
