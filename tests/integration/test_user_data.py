"""Data the user owns, on a real database: export everything, delete everything, keep no stale users."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from hipcoach.bot.coach import Coach, Staff
from hipcoach.bot.storage.models import Base
from hipcoach.flows import Choice, Command
from tests.fakes import CollectingSender, dispatcher_for, said, sql_coach
from tests.integration.test_dispatcher import USER, Clock, onboard_with_schedule

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class RecordingNotifier:
    def __init__(self) -> None:
        self.notes: list[str] = []

    async def notify(self, text: str) -> None:
        self.notes.append(text)


async def busy_user(storage, content) -> tuple[Coach, Clock]:
    """A user with answers, a goal, check-ins, decisions, prompts and outbox: a row in every table."""
    clock = Clock(START)
    coach = sql_coach(
        storage, content, clock, staff=Staff(notifier=RecordingNotifier(), admin_ids=frozenset({1}))
    )
    await onboard_with_schedule(coach)
    clock.now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    await dispatcher_for(coach, CollectingSender()).run_due()
    for value in ("session_offer:start", "session:done", "checkin_pain:5", "checkin_effort:hard"):
        await said(coach, USER, Choice(value))
    await said(coach, USER, Choice("checkin_control:lost"))
    return coach, clock


async def rows_in_every_table(storage, user_id: int) -> dict[str, int]:
    counts = {}
    async with storage.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "tombstones":
                continue  # a deleted user's keyed hash, no live user's data: neither exported nor deleted
            if table.name != "users" and "user_id" not in table.c:
                assert "user" not in " ".join(table.c.keys()), f"{table.name} may hold user data"
                continue  # shared bookkeeping, e.g. the send-rate counter: nothing about anyone
            column = "id" if table.name == "users" else "user_id"
            query = text(f"SELECT count(*) FROM {table.name} WHERE {column} = :user")
            counts[table.name] = await session.scalar(query, {"user": user_id})
    return counts


async def test_export_contains_every_stored_row_and_a_csv_of_check_ins(storage, content):
    coach, _ = await busy_user(storage, content)
    [message, *_] = await said(coach, USER, Command("export"))
    json_file, csv_file = message.files
    exported = json.loads(json_file.data)
    stored = await rows_in_every_table(storage, USER)
    assert {name: len(rows) for name, rows in exported["tables"].items()} == stored
    assert all(
        count > 0 for name, count in stored.items() if name not in ("safety_events", "processed_updates")
    )
    check_ins = list(csv.DictReader(io.StringIO(csv_file.data.decode())))
    assert [(c["pain"], c["effort"], c["control"]) for c in check_ins] == [
        ("2", "ok", "smooth"),
        ("5", "hard", "lost"),
    ]


async def test_delete_removes_every_row_about_the_user_from_every_table(storage, content):
    coach, _ = await busy_user(storage, content)
    await said(coach, 2, Command("start"))  # someone else, who must be untouched
    await said(coach, USER, Command("delete"))
    [message] = await said(coach, USER, Choice("delete:yes"))
    assert "deleted" in message.text
    assert set((await rows_in_every_table(storage, USER)).values()) == {0}
    assert (await rows_in_every_table(storage, 2))["users"] == 1


async def test_retention_forgets_users_inactive_for_too_long(storage, content):
    _, clock = await busy_user(storage, content)
    await storage.forget_inactive(clock.now - timedelta(days=30))
    assert (await rows_in_every_table(storage, USER))["users"] == 1
    await storage.forget_inactive(clock.now + timedelta(days=1))
    assert set((await rows_in_every_table(storage, USER)).values()) == {0}


async def test_the_coach_hand_off_sends_a_summary_only_after_consent(storage, content):
    coach, _ = await busy_user(storage, content)
    await said(coach, USER, Command("coach"), handle="sam")
    assert coach.staff.notifier.notes == []
    await said(coach, USER, Choice("coach:handle"), handle="sam")
    [note] = coach.staff.notifier.notes
    assert "@sam" in note


async def test_stats_count_without_naming_anyone(storage, content):
    coach, _ = await busy_user(storage, content)
    [refused, *_] = await said(coach, USER, Command("stats"))
    assert "only for the people who run this bot" in refused.text
    [report, *_] = await said(coach, 1, Command("stats"))
    assert "Users: 1" in report.text and "Sessions this week: 2" in report.text  # the admin is not stored
    assert "Four-point rock back: 1" in report.text  # where USER now stands, after simplifying


async def test_progress_sends_a_png_chart_with_its_text_summary(storage, content):
    coach, _ = await busy_user(storage, content)
    messages = await said(coach, USER, Command("progress"))
    assert "Sessions in the last 4 weeks: 2." in messages[0].text
    [chart] = messages[0].files  # the summary is the chart's caption
    assert chart.kind == "photo" and chart.data.startswith(b"\x89PNG\r\n\x1a\n")
