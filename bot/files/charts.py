"""The progress chart: a PNG of the last weeks, drawn off-screen with matplotlib's object API."""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

# Matplotlib converts datetimes and timedeltas through its units registry, but its stubs name only
# numbers: each `type: ignore[arg-type]` below marks a date coordinate handed over as such.

Morning = Literal["better", "same", "worse"] | None

SIZE_INCHES = (8.0, 9.0)
DPI = 100
TITLE_SIZE = 20
PANEL_SIZE = 16
TEXT_SIZE = 14
PAIN_SCALE_MAX = 10  # the 0-10 scale itself; where safe and acceptable end comes from content
ZONE_COLOURS = ("#d9f0d3", "#fde9b8", "#f7cfcf")  # safe, acceptable, too much
MARKERS: dict[Morning, tuple[str, str]] = {
    "better": ("^", "#1b7837"),
    "same": ("D", "#4d4d4d"),
    "worse": ("v", "#b2182b"),
    None: ("o", "white"),
}
RUNG_COLOURS = ("#c6dbef", "#9ecae1")
BAR_COLOUR = "#4477aa"
GOAL_COLOUR = "#6a3d9a"
LEGEND = {
    "fontsize": TEXT_SIZE - 1,
    "frameon": False,
    "borderaxespad": 0,
    "borderpad": 0,
    "handletextpad": 0.4,
}
MARGINS = {"left": 0.06, "right": 0.97, "top": 0.83, "bottom": 0.045, "hspace": 0.42}
GRID: dict[str, Any] = {"color": "#dddddd", "linewidth": 0.8}


@dataclass(frozen=True)
class ChartData:
    """What the chart shows: check-ins (when, pain 0-10, next morning), rung changes and goal ratings.

    `pain_safe_max` and `pain_acceptable_max`, the top scores of the safe and acceptable zones, are the
    pain-monitoring thresholds of content/data/progression.yaml.
    """

    check_ins: list[tuple[datetime, int, Morning]]
    rungs: list[tuple[datetime, str]]
    goal: list[tuple[datetime, int]]
    now: datetime
    pain_safe_max: int
    pain_acceptable_max: int
    weeks: int = 8


@dataclass(frozen=True)
class ChartLabels:
    """Every word the chart shows, taken from content; `date_format` is a strftime pattern."""

    title: str
    pain: str
    zone_safe: str
    zone_acceptable: str
    zone_too_much: str
    morning_better: str
    morning_same: str
    morning_worse: str
    morning_unknown: str
    rung: str
    sessions_per_week: str
    goal_difficulty: str
    no_sessions: str
    no_recent_sessions: str
    date_format: str = "%d.%m"


def progress_chart(history: ChartData, labels: ChartLabels) -> bytes:
    """The progress chart as PNG bytes (800 x 900 pixels)."""
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    figure.suptitle(labels.title, y=0.985, fontsize=TITLE_SIZE, fontweight="bold")
    if history.check_ins:
        _draw_progress(figure, history, labels)
    else:
        _draw_empty(figure, labels)
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def _draw_empty(figure: Figure, labels: ChartLabels) -> None:
    """A friendly panel for someone who has not done a session yet."""
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, labels.no_sessions, ha="center", va="center", fontsize=PANEL_SIZE + 2, wrap=True)


def _draw_progress(figure: Figure, history: ChartData, labels: ChartLabels) -> None:
    """Pain, rung, sessions per week and (when rated) goal difficulty, sharing one time axis."""
    weeks = _shown_weeks(history)
    start = history.now - timedelta(weeks=weeks)
    goal = [(when, score) for when, score in history.goal if start <= when <= history.now]
    periods = _rung_periods(history.rungs, start, history.now)
    rows = len({label for *_, label in periods})
    ratios = [3.4, min(2.4, max(1.3, 0.35 * rows + 0.5)), 1.7, *([1.5] if goal else [])]
    axes = figure.subplots(len(ratios), 1, sharex=True, height_ratios=ratios, gridspec_kw=MARGINS)
    recent = [c for c in history.check_ins if start <= c[0] <= history.now]
    _pain_panel(axes[0], sorted(recent, key=lambda c: c[0]), pain_zones(history), labels)
    _rung_panel(axes[1], periods, start + (history.now - start) / 2, labels)
    _sessions_panel(axes[2], [c[0] for c in history.check_ins], start, weeks, labels)
    if goal:
        _goal_panel(axes[3], goal, labels)
    _time_axis(axes, start, weeks, history.now, labels)


def _shown_weeks(history: ChartData) -> int:
    """The last `weeks` weeks, or fewer (at least two) when the history is younger than that."""
    first = min(
        [c[0] for c in history.check_ins] + [r[0] for r in history.rungs] + [g[0] for g in history.goal]
    )
    return min(history.weeks, max(2, math.ceil((history.now - first) / timedelta(weeks=1))))


def _time_axis(axes: list[Axes], start: datetime, weeks: int, now: datetime, labels: ChartLabels) -> None:
    """Week ticks on the bottom panel, light week lines on every panel."""
    step = max(1, math.ceil(weeks / 8))
    ticks = [start + timedelta(weeks=w) for w in range(0, weeks + 1, step)]
    pad = (now - start) * 0.02
    for ax in axes:
        ax.set_xlim(start - pad, now + pad)  # type: ignore[arg-type]
        ax.set_xticks(ticks)  # type: ignore[arg-type]
        ax.grid(axis="x", **GRID)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter(labels.date_format, tz=now.tzinfo))
    axes[-1].tick_params(axis="x", labelsize=TEXT_SIZE)


def pain_zones(history: ChartData) -> list[tuple[float, float, str]]:
    """(from, to, colour) of the safe, acceptable and too-much bands, each whole pain score inside one."""
    edges = [-0.5, history.pain_safe_max + 0.5, history.pain_acceptable_max + 0.5, PAIN_SCALE_MAX + 0.5]
    bands = zip(itertools.pairwise(edges), ZONE_COLOURS, strict=True)
    return [(low, high, colour) for (low, high), colour in bands]


def _pain_panel(
    ax: Axes,
    check_ins: list[tuple[datetime, int, Morning]],
    zones: list[tuple[float, float, str]],
    labels: ChartLabels,
) -> None:
    """Pain per session over the shaded safe / acceptable / too-much zones, marked by the next morning."""
    for low, high, colour in zones:
        ax.axhspan(low, high, color=colour, zorder=0)
    ax.set_ylim(zones[0][0], zones[-1][1])
    ax.set_yticks([0, *(round(high - 0.5) for _, high, _ in zones)])  # 0 and each zone's top score
    ax.tick_params(axis="y", labelsize=TEXT_SIZE)
    _pain_legends(ax, labels)
    if not check_ins:
        ax.text(
            0.5,
            0.75,
            labels.no_recent_sessions,
            transform=ax.transAxes,
            ha="center",
            fontsize=TEXT_SIZE,
            bbox={"facecolor": "white", "edgecolor": "none"},
        )
        return
    times = [c[0] for c in check_ins]
    ax.plot(times, [c[1] for c in check_ins], color="#777777", linewidth=1.2, zorder=2)  # type: ignore[arg-type]
    for morning, (marker, colour) in MARKERS.items():
        points = [(when, pain) for when, pain, answer in check_ins if answer == morning]
        if points:
            when, pain = zip(*points, strict=True)
            ax.scatter(
                when,
                pain,
                marker=marker,
                s=90,
                color=colour,
                edgecolors="#222222",
                linewidths=1,
                zorder=3,
            )


def _pain_legends(ax: Axes, labels: ChartLabels) -> None:
    """The panel's title with the zone colours on the left, the next-morning markers on the right."""
    names = (labels.zone_safe, labels.zone_acceptable, labels.zone_too_much)
    swatches = zip(ZONE_COLOURS, names, strict=True)
    zones = [Patch(facecolor=colour, edgecolor="#999999", label=name) for colour, name in swatches]
    title = {"size": PANEL_SIZE, "weight": "bold"}
    first = ax.legend(
        handles=zones,
        title=labels.pain,
        title_fontproperties=title,
        alignment="left",
        loc="lower left",
        bbox_to_anchor=(0, 1.01),
        **LEGEND,
    )
    ax.add_artist(first)
    words: dict[Morning, str] = {
        "better": labels.morning_better,
        "same": labels.morning_same,
        "worse": labels.morning_worse,
        None: labels.morning_unknown,
    }
    markers = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=MARKERS[key][0],
            markersize=10,
            markerfacecolor=MARKERS[key][1],
            markeredgecolor="#222222",
            label=word,
        )
        for key, word in words.items()
    ]
    ax.legend(handles=markers, loc="lower right", bbox_to_anchor=(1, 1.01), **LEGEND)


def _rung_periods(
    rungs: list[tuple[datetime, str]], start: datetime, now: datetime
) -> list[tuple[datetime, datetime, str]]:
    """(from, to, label) for every rung held inside the window; the latest rung lasts until now."""
    ordered = sorted(rungs, key=lambda r: r[0])
    ends = [when for when, _ in ordered[1:]] + [now] if ordered else []
    periods = [(max(s, start), min(e, now), label) for (s, label), e in zip(ordered, ends, strict=True)]
    return [(s, e, label) for s, e, label in periods if s < e]


def _rung_panel(
    ax: Axes, periods: list[tuple[datetime, datetime, str]], middle: datetime, labels: ChartLabels
) -> None:
    """The rung over time as bands, one row per rung in the order reached, each row named once."""
    ax.set_title(labels.rung, loc="left", fontsize=PANEL_SIZE, fontweight="bold")
    rows = list(dict.fromkeys(label for _, _, label in periods))
    named: set[str] = set()
    for index, (begin, end, label) in enumerate(periods):
        row = rows.index(label)
        ax.barh(
            row,
            end - begin,  # type: ignore[arg-type]
            left=begin,  # type: ignore[arg-type]
            height=0.8,
            color=RUNG_COLOURS[index % 2],
            edgecolor="#6b8fb3",
        )
        if label not in named:
            named.add(label)
            left = begin <= middle
            ax.text(
                begin if left else end,  # type: ignore[arg-type]
                row,
                f" {label} ",
                ha="left" if left else "right",
                va="center",
                fontsize=TEXT_SIZE - 1,
                clip_on=True,
            )
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)


def _sessions_panel(
    ax: Axes, sessions: list[datetime], start: datetime, weeks: int, labels: ChartLabels
) -> None:
    """Sessions done in each week of the window, as bars with their count on top."""
    ax.set_title(labels.sessions_per_week, loc="left", fontsize=PANEL_SIZE, fontweight="bold")
    counts = [0] * weeks
    for when in sessions:
        if timedelta(0) <= when - start <= timedelta(weeks=weeks):
            counts[min(math.floor((when - start) / timedelta(weeks=1)), weeks - 1)] += 1
    middles = [start + timedelta(weeks=w, days=3.5) for w in range(weeks)]
    bars = ax.bar(middles, counts, width=5, color=BAR_COLOUR)  # type: ignore[arg-type]
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=TEXT_SIZE, padding=2)
    ax.set_ylim(0, max(counts) * 1.35 + 0.5)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)


def _goal_panel(ax: Axes, goal: list[tuple[datetime, int]], labels: ChartLabels) -> None:
    """The function goal's difficulty (0-10) at each rating, with its value written by the point."""
    ax.set_title(labels.goal_difficulty, loc="left", fontsize=PANEL_SIZE, fontweight="bold")
    times, scores = zip(*sorted(goal), strict=True)
    ax.plot(times, scores, color=GOAL_COLOUR, marker="s", markersize=9, linewidth=2)
    for when, score in zip(times, scores, strict=True):
        ax.annotate(
            str(score),
            (when, score),
            textcoords="offset points",
            xytext=(0, 9),
            ha="center",
            fontsize=TEXT_SIZE,
            color=GOAL_COLOUR,
        )
    ax.set_ylim(-0.5, 12)
    ax.set_yticks([0, 5, 10])
    ax.tick_params(axis="y", labelsize=TEXT_SIZE)
