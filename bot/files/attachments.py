"""Files and figures the engine asks for by name, made by the shell from stored data."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
from typing import TYPE_CHECKING, Any

from hipcoach.flows.values import File, Message

if TYPE_CHECKING:
    from hipcoach.bot.coach import Coach


async def fill(messages: list[Message], user_id: int, coach: Coach) -> list[Message]:
    """Replace each message's attachment name with what it names."""
    filled = []
    for message in messages:
        maker = MAKERS.get((message.attachment or "").partition(":")[0])
        filled.append(await maker(message, user_id, coach) if maker else message)
    return filled


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


async def export(message: Message, user_id: int, coach: Coach) -> Message:
    """Everything stored about the user as JSON, and their check-ins as CSV."""
    rows = await coach.reports.rows_about(user_id)
    document = json.dumps(
        {"user_id": user_id, "tables": rows}, default=_json_default, indent=2, ensure_ascii=False
    )
    files = (
        File(f"hipcoach-{user_id}.json", document.encode()),
        File(f"hipcoach-{user_id}-check-ins.csv", _check_ins_csv(rows.get("check_ins", [])).encode()),
    )
    return dataclasses.replace(message, files=files)


def _check_ins_csv(rows: list[dict[str, Any]]) -> str:
    columns = ["checked_in_at", "exercise", "pain", "effort", "control", "location", "morning"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _json_default(v) if k == "checked_in_at" else v for k, v in row.items()})
    return out.getvalue()


async def stats(message: Message, user_id: int, coach: Coach) -> Message:
    """Aggregate counts for admins; nothing about any one person."""
    figures = await coach.reports.aggregate_stats(coach.clock())
    names = coach.content.exercises
    stops = "\n".join(
        coach.content.message("list_bullet").format(item=f"{names[ex].name if ex in names else ex}: {count}")
        for ex, count in figures.pop("ladder_stops")
    )
    text = coach.content.message("stats_report").format(**figures, ladder_stops=stops or "-")
    return dataclasses.replace(message, text=text)


async def progress_chart(message: Message, user_id: int, coach: Coach) -> Message:
    from hipcoach.bot.files import chart_data

    png = await chart_data.chart_for(user_id, coach)
    return dataclasses.replace(message, files=(File("progress.png", png, "photo"),))


async def animation(message: Message, user_id: int, coach: Coach) -> Message:
    """An exercise's animation ('animation:<exercise id>'), drawn once and kept under its content hash."""
    exercise_id = (message.attachment or "").partition(":")[2]
    if exercise_id not in coach.content.exercises:  # a button from content since changed
        return message
    file = await asyncio.to_thread(coach.animations.file, exercise_id, coach.content, coach.animation_kind)
    return dataclasses.replace(message, files=(file,))


MAKERS = {"export": export, "stats": stats, "progress_chart": progress_chart, "animation": animation}
