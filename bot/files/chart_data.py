"""Gather a user's stored history into the progress chart, labelled and zoned from content."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hipcoach.bot.files.charts import ChartData, ChartLabels, progress_chart
from hipcoach.content.schema import Content

if TYPE_CHECKING:
    from hipcoach.bot.coach import Coach

LABEL_KEYS = {field: f"chart_{field}" for field in ChartLabels.__dataclass_fields__}
ZONE_LABELS = ("zone_safe", "zone_acceptable", "zone_too_much")


def chart_labels(content: Content) -> ChartLabels:
    """Every word on the chart, from the content messages (keys `chart_<field>`); zones name their scores."""
    rules = content.progression
    zones = {
        "safe_max": rules.pain_safe_max,
        "acceptable_min": rules.pain_safe_max + 1,
        "acceptable_max": rules.pain_acceptable_max,
    }
    words = {field: content.message(key) for field, key in LABEL_KEYS.items()}
    words.update({field: content.text(LABEL_KEYS[field], **zones) for field in ZONE_LABELS})
    return ChartLabels(**words)


def chart_data(rows: Mapping[str, list[dict[str, Any]]], content: Content, now: datetime) -> ChartData:
    """The chart's data from the stored rows, with the pain zones of content/data/progression.yaml."""
    names = content.exercises
    return ChartData(
        check_ins=[(r["checked_in_at"], r["pain"], r["morning"]) for r in rows.get("check_ins", [])],
        rungs=[
            (r["changed_at"], names[r["exercise"]].name if r["exercise"] in names else r["exercise"])
            for r in rows.get("rung_changes", [])
        ],
        goal=[(r["rated_at"], r["score"]) for r in rows.get("goal_ratings", [])],
        now=now,
        pain_safe_max=content.progression.pain_safe_max,
        pain_acceptable_max=content.progression.pain_acceptable_max,
        weeks=content.progression.chart_weeks,
    )


async def chart_for(user_id: int, coach: Coach) -> bytes:
    rows = await coach.reports.rows_about(user_id)
    return progress_chart(chart_data(rows, coach.content, coach.clock()), chart_labels(coach.content))
