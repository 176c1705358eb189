import pytest

from rollouts.plans import PlanError, stages_as_text, stages_from_text


def test_a_plan_typed_as_lines_reads_as_stages():
    assert stages_from_text("10, 240, auto, 2880\n50 %, 480, manual\n\n100, 720") == [
        {"percent": 10, "min_soak_minutes": 240, "gate": "auto", "max_duration_minutes": 2880},
        {"percent": 50, "min_soak_minutes": 480, "gate": "manual", "max_duration_minutes": 1920},
        {"percent": 100, "min_soak_minutes": 720, "gate": "auto", "max_duration_minutes": 2880},
    ]


def test_a_plan_written_out_reads_back_the_same():
    plan = stages_from_text("0.5, 60, auto, 240\n100, 0, manual, 60")
    assert stages_from_text(stages_as_text(plan)) == plan
    assert stages_as_text(plan) == "0.5, 60, auto, 240\n100, 0, manual, 60"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("10", "line 1"),
        ("ten, 60", "line 1"),
        ("10, 60\n5, 60", "percent must rise above 10"),
        ("10, 60, sometimes", "gate is one of auto, manual"),
        ("50, 60", "the last stage must reach 100 percent"),
    ],
)
def test_a_plan_that_cannot_work_is_refused_saying_where(text, problem):
    with pytest.raises(PlanError) as refused:
        stages_from_text(text)
    assert problem in str(refused.value)
