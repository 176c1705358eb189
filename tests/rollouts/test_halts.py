"""A halt explains itself to a person: one sentence per kind of reason (rollouts/halts.py)."""

import pytest

from rollouts.halts import HaltReason

STAGES = [{"percent": 5}, {"percent": 30}, {"percent": 100}]


def test_an_install_failure_rate_halt_names_the_bound_the_sample_and_the_limit():
    reason = HaltReason(
        "install_failure_rate",
        1,
        value=0.268,
        bound=0.157,
        threshold=0.02,
        sample={"failed": 11, "finished": 41},
    )
    assert reason.describe(stages=STAGES) == (
        "Install failure rate in stage 2 of 3 (30 %): at least 15.7 % (95 % lower bound; "
        "11 of 41 installs failed) is above the 2 % limit."
    )


def test_a_bound_just_over_its_limit_is_shown_with_the_digits_that_tell_them_apart():
    reason = HaltReason(
        "install_failure_rate",
        0,
        bound=0.02004,
        threshold=0.02,
        sample={"failed": 1, "finished": 2},
    )
    assert "at least 2.004 % (99 % lower bound" in reason.describe(confidence=0.99)
    assert "above the 2 % limit" in reason.describe()


def test_a_health_halt_compares_the_release_with_the_control_group():
    reason = HaltReason(
        "crashes_per_hour_ratio",
        0,
        value=3.1,
        bound=1.62,
        threshold=1.5,
        sample={
            "treated_events": 45,
            "treated_hours": 120.0,
            "control_events": 20,
            "control_hours": 150.4,
        },
    )
    assert reason.describe(stages=STAGES) == (
        "Crash rate against the control group in stage 1 of 3 (5 %): at least 1.62\u00d7 "
        "(95 % lower bound; 45 crashes in 120 h on the release, 20 in 150.4 h without it) "
        "is above the 1.5\u00d7 limit."
    )


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        (
            HaltReason(
                "critical_signal",
                0,
                value="E_BRICKED",
                threshold="any",
                sample={"vin": "5NXK2DEG5RB000000"},
            ),
            "Critical signal E_BRICKED in stage 1 of 3 (5 %), reported by 5NXK2DEG5RB000000: "
            "one is enough to halt.",
        ),
        (
            HaltReason("critical_signal", 2, value=3, threshold="any", sample={"finished": 9}),
            "3 critical signals counted in stage 3 of 3 (100 %): one is enough to halt.",
        ),
        (
            HaltReason("operator", 1, value="bad build", sample={"by": "ada"}),
            "Halted by ada: bad build",
        ),
        (HaltReason("operator", 1, value="", sample={"by": "ada"}), "Halted by ada."),
    ],
)
def test_signals_and_people_halting_read_as_sentences(reason, sentence):
    assert reason.describe(stages=STAGES) == sentence


def test_the_stored_json_round_trips():
    reason = HaltReason("install_failure_rate", 1, 0.3, 0.2, 0.02, {"failed": 3, "finished": 10})
    assert HaltReason.from_json(reason.as_json()) == reason
