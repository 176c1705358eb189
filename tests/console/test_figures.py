"""The console's pure figures and its charts, without a database."""

from datetime import UTC, datetime, timedelta

from console import charts
from console.progress import duration, next_gate, progress
from rollouts.services import counters

PLAN = [
    {"percent": 10, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    {"percent": 100, "min_soak_minutes": 60, "gate": "manual", "max_duration_minutes": 600},
]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _counts(**values):
    row = {**counters.empty(), **values}
    return counters._with_totals(row)


def test_progress_places_the_vehicles_of_a_stage_against_the_scope():
    shown = progress(
        totals=_counts(offered=50, succeeded=30, failed_install=4, timed_out=2, retracted=4),
        stages=PLAN,
        stage_index=0,
        in_scope=500,
    )
    assert {s.state: s.count for s in shown.segments} == {
        "succeeded": 30,
        "failed": 4,
        "timed_out": 2,
        "waiting": 10,  # 50 offered, 36 finished, 4 retracted
    }
    assert shown.offered_share == 0.1
    assert [s.share for s in shown.segments] == [0.06, 0.008, 0.004, 0.02]
    assert shown.marks == (0.1, 1.0)


def test_cars_waiting_for_their_install_window_are_shown_apart_from_the_rest():
    shown = progress(
        totals=_counts(offered=50, succeeded=30, deferred=7, deferral_ended=3),
        stages=PLAN,
        stage_index=0,
        in_scope=500,
    )

    assert {s.state: s.count for s in shown.segments} == {
        "succeeded": 30,
        "failed": 0,
        "timed_out": 0,
        "deferred": 4,  # 7 deferred, 3 of them since allowed to install
        "waiting": 16,
    }


def test_a_scope_not_counted_draws_the_bar_against_those_offered():
    shown = progress(
        totals=_counts(offered=4, succeeded=4), stages=PLAN, stage_index=0, in_scope=None
    )
    assert shown.offered_share is None
    assert shown.marks == ()
    assert shown.segments[0].share == 1.0


def test_the_next_gate_is_said_in_words():
    started = NOW - timedelta(minutes=15)
    say = dict(status="running", stages=PLAN, stage_started_at=started, now=NOW)
    assert next_gate(**say, stage_index=0, awaiting_person=False) == (
        "Soaking: 45 min to go; if healthy then, it moves to stage 2 (100 %)."
    )
    later = {**say, "now": NOW + timedelta(hours=2)}
    assert next_gate(**later, stage_index=0, awaiting_person=False) == (
        "Soaked; once healthy it moves to stage 2 (100 %) (pauses in 7 h 45 min if still "
        "inconclusive)."
    )
    assert next_gate(**later, stage_index=1, awaiting_person=True) == (
        "Healthy and soaked: waits for a person at the manual gate, then it completes."
    )
    assert next_gate(**{**say, "status": "halted"}, stage_index=0, awaiting_person=False) == (
        "Halted: nothing is offered until a person resumes or reverts it."
    )
    assert next_gate(**{**say, "status": "paused"}, stage_index=0, awaiting_person=False) == (
        "Paused: waits for a person to resume, advance or halt."
    )


def test_durations_keep_two_units_and_round_up_to_the_minute():
    assert duration(timedelta(seconds=30)) == "1 min"
    assert duration(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert duration(timedelta(days=3, hours=4, minutes=59)) == "3 d 5 h"
    assert duration(timedelta(days=2)) == "2 d"


def test_charts_are_svg_without_scripts_and_escape_every_name():
    svg = charts.installed_chart(
        "hu-gen7", ["EU", "US"], {"<script>alert(1)</script>": [3, 4], "7.2.0": [1, 0]}
    )
    assert svg.startswith("<svg")
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg

    points = [(NOW + timedelta(minutes=i), 0.01 * i, 0.0, 0.02 * i + 0.1) for i in range(5)]
    drawn = charts.failure_rate_chart(points, 0.02)
    assert "<script" not in drawn
    assert "Install failure rate" in drawn
    assert drawn.count('class="line reactive nofill"') >= 3  # observed and both bounds


def test_an_unbounded_interval_is_drawn_at_the_top_of_the_chart():
    points = [(NOW, None, 0.0, None), (NOW + timedelta(minutes=1), 1.2, 0.4, None)]
    drawn = charts.rate_ratio_chart("crashes", points, 1.5)
    assert "Crashes per driving hour" in drawn
    assert "inf" not in drawn.lower().replace("info", "")
