"""Which cars a logged change of a channel can concern (rollouts/reach.py)."""

from rollouts.reach import EVERYONE, KEPT, Reach, concerned, logged
from rollouts.targeting import bucket

SALT = "s" * 16
VIN = "1HGBH41JXMN109186"
AT = bucket(SALT, VIN) / 100  # the car's bucket, in percent


def log_of(*reaches: Reach, first: int = 2) -> list[dict]:
    log: list[dict] = []
    for version, reach in enumerate(reaches, start=first):
        log = logged(log, reach, version=version)
    return log


def test_no_change_since_the_cars_decision_concerns_it():
    assert not concerned([], since=7, now=7, vin=VIN, region="EU")


def test_a_range_of_buckets_concerns_the_cars_in_it_only():
    around = log_of(Reach(SALT, AT, AT + 0.01))
    beside = log_of(Reach(SALT, AT + 0.01, 100))
    assert concerned(around, since=1, now=2, vin=VIN, region="EU")
    assert not concerned(beside, since=1, now=2, vin=VIN, region="EU")


def test_a_change_for_other_markets_does_not_concern_the_car():
    log = log_of(Reach(regions=("CN",)), Reach(SALT, 0, 100, ("US",)))
    assert not concerned(log, since=1, now=3, vin=VIN, region="EU")
    assert concerned(log, since=1, now=3, vin=VIN, region="CN")


def test_one_change_that_concerns_the_car_among_many_is_enough():
    log = log_of(Reach(SALT, AT + 0.01, 100), EVERYONE, Reach(regions=("CN",)))
    assert concerned(log, since=1, now=4, vin=VIN, region="EU")


def test_a_car_that_decided_before_the_oldest_kept_change_decides_again():
    log = log_of(*[Reach(regions=("CN",))] * (KEPT + 1))
    assert len(log) == KEPT
    assert concerned(log, since=1, now=KEPT + 2, vin=VIN, region="EU")
    assert not concerned(log, since=2, now=KEPT + 2, vin=VIN, region="EU")


def test_an_empty_range_reaches_nobody_and_is_not_logged():
    assert Reach(SALT, 20, 20).empty and not EVERYONE.empty
