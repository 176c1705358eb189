"""The statistics of halts, against values worked out by hand and in textbooks."""

import math

import pytest

from rollouts.health import Verdict, failure_rate_check, health_check, rate_ratio, wilson, z_for


def test_the_95_percent_quantile_is_1_96():
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        (1, 10, 0.0179, 0.4042),
        (0, 10, 0.0, 0.2775),
        (8, 100, 0.0411, 0.1500),
        (50, 100, 0.4038, 0.5962),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_intervals_match_published_values(k, n, lower, upper):
    interval = wilson(k, n)
    assert interval.lower == pytest.approx(lower, abs=1e-4)
    assert interval.upper == pytest.approx(upper, abs=1e-4)
    assert interval.value == k / n


def test_no_trials_means_no_knowledge():
    assert (wilson(0, 0).lower, wilson(0, 0).upper) == (0.0, 1.0)


def test_eight_percent_failures_halt_a_two_percent_budget_once_the_sample_allows():
    early = failure_rate_check(failed=2, finished=25, max_failure_rate=0.02, min_finished=50)
    assert early.verdict == Verdict.INCONCLUSIVE  # too few finished installs
    halted = failure_rate_check(failed=8, finished=100, max_failure_rate=0.02, min_finished=50)
    assert halted.verdict == Verdict.UNHEALTHY
    assert halted.rate.lower > 0.02


def test_a_clean_sample_is_healthy_only_when_the_upper_bound_fits():
    assert (
        failure_rate_check(failed=0, finished=50, max_failure_rate=0.05, min_finished=50).verdict
        == Verdict.INCONCLUSIVE
    )  # upper 7.1%
    assert (
        failure_rate_check(failed=0, finished=200, max_failure_rate=0.05, min_finished=50).verdict
        == Verdict.HEALTHY
    )  # upper 1.9%


def test_a_tripled_crash_rate_has_a_lower_bound_well_above_one():
    ratio = rate_ratio(treated_events=60, treated_hours=1000, control_events=20, control_hours=1000)
    assert ratio.value == pytest.approx(3.0)
    assert ratio.lower > 1.7
    assert ratio.upper < 5.5


def test_equal_rates_give_an_interval_around_one():
    ratio = rate_ratio(treated_events=20, treated_hours=1000, control_events=20, control_hours=1000)
    assert ratio.value == pytest.approx(1.0)
    assert ratio.lower < 1.0 < ratio.upper


def test_unequal_exposure_is_accounted_for():
    # Same rate per hour, four times the exposure in the control group.
    ratio = rate_ratio(treated_events=10, treated_hours=500, control_events=40, control_hours=2000)
    assert ratio.value == pytest.approx(1.0)
    assert ratio.lower < 1.0 < ratio.upper


def test_no_control_events_still_gives_a_finite_lower_bound():
    ratio = rate_ratio(treated_events=12, treated_hours=100, control_events=0, control_hours=100)
    assert ratio.value is None
    assert ratio.lower > 1.0
    assert ratio.upper == math.inf


def test_health_halts_on_a_tripled_crash_rate_after_enough_exposure():
    args = dict(treated_events=60, control_events=20, max_rate_ratio=1.5)
    too_early = health_check(
        treated_hours=1000, control_hours=1000, min_exposure_hours=5000, **args
    )
    assert too_early.verdict == Verdict.INCONCLUSIVE
    halted = health_check(treated_hours=1000, control_hours=1000, min_exposure_hours=500, **args)
    assert halted.verdict == Verdict.UNHEALTHY


def test_health_with_the_control_rate_is_healthy():
    check = health_check(
        treated_events=20,
        treated_hours=1000,
        control_events=20,
        control_hours=1000,
        max_rate_ratio=1.5,
        min_exposure_hours=500,
    )
    assert check.verdict == Verdict.HEALTHY
