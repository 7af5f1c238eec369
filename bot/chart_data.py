"""Gather a user's stored history into the progress chart, labelled from content."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.charts import ChartData, ChartLabels, progress_chart

if TYPE_CHECKING:
    from bot.coach import Coach

LABEL_KEYS = {field: f"chart_{field}" for field in ChartLabels.__dataclass_fields__}


def chart_labels(coach: Coach) -> ChartLabels:
    """Every word on the chart, from the content messages (keys `chart_<field>`)."""
    return ChartLabels(**{field: coach.content.message(key) for field, key in LABEL_KEYS.items()})


async def chart_for(user_id: int, coach: Coach) -> bytes:
    rows = await coach.storage.rows_about(user_id)
    names = coach.content.exercises
    data = ChartData(
        check_ins=[(r["checked_in_at"], r["pain"], r["morning"]) for r in rows.get("check_ins", [])],
        rungs=[
            (r["changed_at"], names[r["exercise"]].name if r["exercise"] in names else r["exercise"])
            for r in rows.get("rung_changes", [])
        ],
        goal=[(r["rated_at"], r["score"]) for r in rows.get("goal_ratings", [])],
        now=coach.clock(),
        weeks=coach.content.progression.chart_weeks,
    )
    return progress_chart(data, chart_labels(coach))
