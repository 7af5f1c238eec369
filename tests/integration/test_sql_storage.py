import asyncio

import pytest
from sqlalchemy import text

from hipcoach.bot.coach import Coach
from hipcoach.bot.storage.db import WriteGate, make_engine
from hipcoach.bot.storage.sql import SqlStorage
from hipcoach.flows import Choice, Command, Text
from hipcoach.flows.values import State
from tests.conftest import NOW
from tests.fakes import said, sql_coach


def coach_on(storage, content) -> Coach:
    return sql_coach(storage, content, clock=lambda: NOW)


async def onboard(coach: Coach, user_id: int) -> None:
    for event in ("hi", "consent:yes", "red_flags_urgent:no", "red_flags_clinician:no"):
        await said(coach, user_id, Choice(event) if ":" in event else Text(event))
    for answer in ("load_pain:yes", "kneeling_ok:yes", "knee_issues:no", "equipment:kettlebell"):
        await said(coach, user_id, Choice(answer))
    await said(coach, user_id, Choice("equipment:done"))
    await said(coach, user_id, Choice("goal_activity:skip"))


async def test_a_full_onboarding_is_stored_row_by_row(storage, reports, content):
    await onboard(coach_on(storage, content), 42)

    rows = await reports.rows_about(42)
    assert rows["users"][0]["consented_at"] == NOW
    assert rows["dialogue_states"][0]["name"] == "session"
    answers = {row["question"]: row["value"] for row in rows["screening_answers"]}
    assert answers == {
        "red_flags_urgent": False,
        "red_flags_clinician": False,
        "load_pain": True,
        "kneeling_ok": True,
        "knee_issues": False,
        "equipment": ["kettlebell"],
    }
    assert [(r["ladder"], r["exercise"], r["reason"]) for r in rows["rung_changes"]] == [
        ("hinge", "four_point_rock_back", "start_reason_unload")
    ]


async def test_the_conversation_resumes_after_a_restart_of_the_process(database_url, storage, content):
    first = coach_on(storage, content)
    await said(first, 5, Text("hi"))
    await said(first, 5, Choice("consent:yes"))
    await storage.close()

    reopened = SqlStorage(make_engine(database_url))
    second = coach_on(reopened, content)
    messages = await said(second, 5, Text("/start"))
    assert (await reopened.load_state(5)).name == "red_flags_urgent"
    assert messages[-1].buttons[0][0][1] == "red_flags_urgent:yes"
    await reopened.close()


async def test_an_urgent_red_flag_is_recorded(storage, reports, content):
    coach = coach_on(storage, content)
    for event in ("hi", "consent:yes", "red_flags_urgent:yes"):
        await said(coach, 3, Choice(event) if ":" in event else Text(event))
    rows = await reports.rows_about(3)
    assert [(r["tier"], r["signs"], r["state"]) for r in rows["safety_events"]] == [
        ("urgent", [], "red_flags_urgent")
    ]
    assert rows["dialogue_states"][0]["name"] == "urgent_stop"


async def test_declining_consent_leaves_no_row_in_any_table(storage, reports, content):
    coach = coach_on(storage, content)
    await said(coach, 8, Text("hi"))
    await said(coach, 8, Choice("consent:no"))
    assert all(rows == [] for rows in (await reports.rows_about(8)).values())


async def test_a_turn_that_fails_midway_commits_nothing(storage, content):
    coach = coach_on(storage, content)
    await said(coach, 11, Text("hi"))

    with pytest.raises(RuntimeError):
        async with storage.unit_of_work(NOW) as work:
            await work.open_user(11)
            await work.save(11, State("idle"))
            raise RuntimeError("boom")
    assert (await storage.load_state(11)).name == "consent"


async def test_restart_clears_stored_screening_answers(storage, reports, content):
    coach = coach_on(storage, content)
    await onboard(coach, 12)
    await said(coach, 12, Command("restart"))
    await said(coach, 12, Choice("restart:yes"))
    rows = await reports.rows_about(12)
    assert rows["screening_answers"] == []
    assert rows["dialogue_states"][0]["name"] == "red_flags_urgent"


async def test_a_writer_that_begins_again_at_once_does_not_starve_another_of_the_same_process(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}")
    gate, order = WriteGate(engine), []

    async def busy_writer() -> None:  # like the dispatcher taking one due prompt's turn after another
        for _ in range(30):
            async with gate(), engine.begin() as connection:
                await connection.execute(text("CREATE TABLE IF NOT EXISTS t (x)"))
                for _ in range(5):
                    await connection.execute(text("INSERT INTO t VALUES (1)"))
                order.append("busy")

    async def one_write() -> None:  # like a send's in-flight note
        await asyncio.sleep(0)
        async with gate(), engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (2)"))
            order.append("other")

    try:
        await asyncio.gather(busy_writer(), one_write())
    finally:
        await engine.dispose()
    assert order.index("other") <= 2  # its turn comes after the transaction under way, not after all 30
