"""Charts as inline SVG, drawn on the server by pygal: no JavaScript library, no CDN.

Numbers in, markup out (marked safe: pygal builds the SVG with ElementTree, which escapes
every label and title we give it).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from xml.etree import ElementTree

import pygal
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

from console.progress import state_label

# The admin's own colours: value, its bounds, the policy's limit, the control group.
VALUE, BOUND, LIMIT = "#417690", "#79aec8", "#ba2121"
STATE_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#ba2121",
    "timed_out": "#e0a100",
    "deferred": "#7e6bb0",
    "waiting": "#9fb7c5",
}


def _style(*colours: str) -> Style:
    return Style(
        background="transparent",
        plot_background="transparent",
        foreground="#333",
        foreground_strong="#333",
        foreground_subtle="#999",
        font_family="-apple-system, 'Segoe UI', system-ui, Roboto, sans-serif",
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=11,
        title_font_size=13,
        no_data_font_size=13,
        colors=colours,
    )


def _config(**overrides):
    return {
        "js": [],  # pygal's tooltips would load a script from its CDN
        "disable_xml_declaration": True,
        "explicit_size": False,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "show_dots": False,
        "truncate_legend": -1,
        "allow_interruptions": True,
        "no_data_text": "no evaluation yet",
        **overrides,
    }


def _svg(chart) -> SafeString:
    """The chart's SVG without pygal's script (a copy of its config, for tooltips we do not
    load): a page of ours runs no script it did not ship. ElementTree escapes every text."""
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            if str(child.tag).endswith("script"):
                parent.remove(child)
    return mark_safe(ElementTree.tostring(tree, encoding="unicode"))  # noqa: S308


def _clock(at: datetime) -> str:
    if timezone.is_naive(at):  # pygal gives axis positions back as naive UTC
        at = at.replace(tzinfo=UTC)
    return timezone.localtime(at).strftime("%d %b %H:%M")


def _over_time(points, limit, *, title, percent, small, upper_cap):
    """`points`: (at, value, lower, upper) in time order; None leaves a gap."""
    chart = pygal.DateTimeLine(
        **_config(
            title=None if small else title,
            height=120 if small else 260,
            width=360 if small else 720,
            show_legend=not small,
            show_dots=len(points) < 3,  # a line needs two points; one evaluation is a dot
            show_x_labels=not small,
            show_y_guides=not small,
            x_label_rotation=0,
            truncate_label=-1,
            show_minor_x_labels=False,
            x_labels_major_count=5,
            x_value_formatter=_clock,
            value_formatter=(lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.2f}"),
            range=(0, upper_cap),
            # A small chart marks zero, the limit and its top: the trend against the limit.
            **({"y_labels": [0, limit, upper_cap]} if small else {}),
            style=_style(VALUE, BOUND, BOUND, LIMIT),
            margin=4 if small else 12,
            margin_bottom=4 if small else 28,
        )
    )
    capped = [(at, None if upper is None else min(upper, upper_cap)) for at, _, _, upper in points]
    chart.add("observed", [(at, value) for at, value, _, _ in points], stroke_style={"width": 2})
    chart.add("95 % lower bound", [(at, lower) for at, _, lower, _ in points], fill=False)
    chart.add("95 % upper bound", capped, stroke_style={"dasharray": "2, 3"})
    if points:
        chart.add(
            "limit",
            [(points[0][0], limit), (points[-1][0], limit)],
            stroke_style={"dasharray": "6, 4", "width": 1.5},
        )
    return _svg(chart)


def failure_rate_chart(
    points: Sequence[tuple[datetime, float, float, float]], limit: float, *, small: bool = False
) -> SafeString:
    """The install failure rate, its Wilson bounds and the policy's limit over time."""
    highest = max([limit * 2.5, *(value for _, value, _, _ in points)], default=limit * 2.5)
    return _over_time(
        points,
        limit,
        title="Install failure rate",
        percent=True,
        small=small,
        upper_cap=min(1.0, highest * 1.2),
    )


def rate_ratio_chart(
    metric: str,
    points: Sequence[tuple[datetime, float | None, float, float | None]],
    limit: float,
    *,
    small: bool = False,
) -> SafeString:
    """A health metric's rate ratio against the control group, its interval and the limit.
    An unbounded upper bound (no events yet) is drawn at the top of the chart."""
    seen = [v for _, value, lower, _ in points for v in (value, lower) if v is not None]
    cap = max([limit * 2, *seen]) * 1.2
    return _over_time(
        points,
        limit,
        title=f"{metric.capitalize()} per driving hour, updated ÷ control",
        percent=False,
        small=small,
        upper_cap=cap,
    )


def stage_states_chart(stages: Sequence[tuple[str, dict[str, int]]]) -> SafeString:
    """Vehicles per state in each stage (stacked): `stages` is (label, {state: count})."""
    chart = pygal.StackedBar(
        **_config(
            title="Vehicles per state, by the stage they were offered in",
            height=240,
            width=720,
            style=_style(*STATE_COLOURS.values()),
            print_values=False,
            no_data_text="nothing offered yet",
            margin=12,
            margin_bottom=28,
        )
    )
    chart.x_labels = [label for label, _ in stages]
    for state in STATE_COLOURS:
        chart.add(state_label(state), [counts.get(state, 0) for _, counts in stages])
    return _svg(chart)


def installed_chart(hardware_id: str, regions: Sequence[str], versions: dict[str, list[int]]):
    """One hardware id: the vehicles per installed version in each region (stacked bars)."""
    chart = pygal.HorizontalStackedBar(
        **_config(
            title=hardware_id,
            height=110 + 28 * len(regions) + 22 * ((len(versions) + 2) // 3),
            legend_at_bottom_columns=3,
            width=520,
            style=_style(VALUE, "#2e7d32", "#e0a100", BOUND, "#8e6bbf", "#999"),
            print_values=False,
            margin=6,
            margin_bottom=28,
        )
    )
    chart.x_labels = list(regions)
    for version, counts in versions.items():
        chart.add(version, counts)
    return _svg(chart)
