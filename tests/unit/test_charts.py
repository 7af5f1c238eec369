"""The progress chart: a valid PNG of a fixed size for any history, every word on it from labels."""

from __future__ import annotations

import dataclasses
import functools
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from hipcoach.bot.files.chart_data import chart_data, chart_labels
from hipcoach.bot.files.charts import ChartData, ChartLabels, pain_zones, progress_chart

NOW = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIZE = (800, 900)
LABELS = ChartLabels(
    title="Your progress",
    pain="Pain during the session (0-10)",
    zone_safe="0-3 safe",
    zone_acceptable="4-5 acceptable",
    zone_too_much="above 5 too much",
    morning_better="next morning better",
    morning_same="next morning same",
    morning_worse="next morning worse",
    morning_unknown="no morning answer",
    rung="Your exercise level",
    sessions_per_week="Sessions per week",
    goal_difficulty="How hard your goal feels (0-10)",
    no_sessions="No sessions yet",
    no_recent_sessions="No sessions in these weeks",
)
MORNINGS = ("better", "same", "worse", None)
LADDER = ("Four-point rock backs", "Kneeling hip thrusts", "Glute bridge", "Standing hip hinge")

ZONES = {"pain_safe_max": 3, "pain_acceptable_max": 5}
EMPTY = ChartData(check_ins=[], rungs=[], goal=[], now=NOW, weeks=8, **ZONES)
SHORT = ChartData(
    check_ins=[(NOW - timedelta(days=5), 4, "better"), (NOW - timedelta(days=3), 3, "worse"),
               (NOW - timedelta(days=1), 2, None)],
    rungs=[(NOW - timedelta(days=6), LADDER[1])],
    goal=[(NOW - timedelta(days=6), 7)],
    now=NOW,
    **ZONES,
)  # fmt: skip
STALE = ChartData(
    check_ins=[(NOW - timedelta(days=120), 5, "same")],
    rungs=[(NOW - timedelta(days=121), LADDER[0])],
    goal=[],
    now=NOW,
    **ZONES,
)


HISTORIES = {"empty": EMPTY, "short": SHORT, "stale": STALE}


def long_history() -> ChartData:
    """200 sessions over a year, with rung changes and a goal rating every two weeks."""
    first = NOW - timedelta(days=365)
    check_ins = [(first + timedelta(days=i * 365 / 200), (i * 7) % 9, MORNINGS[i % 4]) for i in range(200)]
    rungs = [(first + timedelta(days=90 * i), LADDER[i]) for i in range(4)]
    goal = [(first + timedelta(weeks=2 * i), max(0, 9 - i // 3)) for i in range(26)]
    return ChartData(check_ins=check_ins, rungs=rungs, goal=goal, now=NOW, weeks=8, **ZONES)


def opened(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.verify()
    return Image.open(io.BytesIO(png))


@pytest.mark.parametrize(
    "history", [EMPTY, SHORT, STALE, long_history()], ids=["empty", "short", "stale", "long"]
)
def test_every_history_renders_a_png_pillow_opens_at_the_fixed_size(history):
    image = opened(progress_chart(history, LABELS))
    assert image.format == "PNG"
    assert image.size == SIZE


def test_rendering_the_same_history_twice_gives_the_same_bytes():
    history = long_history()
    assert progress_chart(history, LABELS) == progress_chart(history, LABELS)


def test_a_long_history_renders_in_well_under_a_few_seconds():
    history = long_history()
    progress_chart(SHORT, LABELS)
    started = time.perf_counter()
    progress_chart(history, LABELS)
    assert time.perf_counter() - started < 5


def test_only_the_last_weeks_are_drawn():
    history = long_history()
    older = dataclasses.replace(
        history, check_ins=[(NOW - timedelta(days=300), 9, "worse"), *history.check_ins]
    )
    assert progress_chart(older, LABELS) == progress_chart(history, LABELS)


def test_sessions_out_of_order_draw_the_same_chart():
    shuffled = dataclasses.replace(SHORT, check_ins=list(reversed(SHORT.check_ins)))
    assert progress_chart(shuffled, LABELS) == baseline("short")


@functools.cache
def baseline(name: str) -> bytes:
    return progress_chart(HISTORIES[name], LABELS)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(ChartLabels)])
def test_every_label_is_drawn_from_chart_labels(field):
    name = {"no_sessions": "empty", "no_recent_sessions": "stale"}.get(field, "short")
    changed = dataclasses.replace(LABELS, **{field: "%Y" if field == "date_format" else "Zqx wvk"})
    assert progress_chart(HISTORIES[name], changed) != baseline(name)


def test_a_naive_clock_and_a_one_week_window_still_render():
    history = ChartData(check_ins=[(datetime(2026, 6, 1, 9), 2, "same")], rungs=[], goal=[],
                        now=datetime(2026, 6, 2, 9), weeks=1, **ZONES)  # fmt: skip
    assert opened(progress_chart(history, LABELS)).size == SIZE


def with_thresholds(content, safe: int, acceptable: int):
    """A copy of the content whose pain-monitoring thresholds a coach has retuned."""
    rules = content.progression.model_copy(update={"pain_safe_max": safe, "pain_acceptable_max": acceptable})
    return content.model_copy(update={"progression": rules})


ROWS = {"check_ins": [{"checked_in_at": NOW - timedelta(days=1), "pain": 3, "morning": "same"}]}


def test_the_pain_zones_come_from_the_progression_thresholds(content):
    shipped = chart_data(ROWS, content, NOW)
    rules = content.progression
    assert [high for _, high, _ in pain_zones(shipped)][:2] == [
        rules.pain_safe_max + 0.5,
        rules.pain_acceptable_max + 0.5,
    ]


def test_retuned_thresholds_move_the_chart_zones_and_their_labels(content):
    retuned = with_thresholds(content, safe=2, acceptable=6)
    data, shipped = chart_data(ROWS, retuned, NOW), chart_data(ROWS, content, NOW)
    assert [(low, high) for low, high, _ in pain_zones(data)] == [(-0.5, 2.5), (2.5, 6.5), (6.5, 10.5)]
    labels = chart_labels(retuned)
    assert labels.zone_safe == retuned.text("chart_zone_safe", safe_max=2, acceptable_min=3, acceptable_max=6)
    assert labels.zone_acceptable == retuned.text(
        "chart_zone_acceptable", safe_max=2, acceptable_min=3, acceptable_max=6
    )
    assert labels.zone_safe != chart_labels(content).zone_safe
    assert progress_chart(data, chart_labels(content)) != progress_chart(shipped, chart_labels(content))
