"""Scheduled prompts on a real SQLite file: due on time, sent once, never lost across a restart."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hipcoach.bot.coach import Coach
from hipcoach.bot.storage.db import make_engine
from hipcoach.bot.storage.models import CheckIn, Outbox, Prompt
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from hipcoach.flows import Choice
from tests.fakes import CollectingSender, dispatcher_for, said, sql_coach
from tests.fakes import onboard_with_schedule as onboard

MONDAY_MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
USER = 77


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(MONDAY_MORNING)


async def onboard_with_schedule(coach: Coach, user: int = USER) -> None:
    await onboard(coach, user)


async def prompts(storage: SqlStorage) -> list[tuple[str, datetime, str]]:
    async with storage.sessions() as session:
        rows = (await session.scalars(select(Prompt).order_by(Prompt.due_at))).all()
        return [(r.kind, r.due_at, r.status) for r in rows]


async def test_confirming_a_schedule_stores_the_next_prompts_in_utc(storage, content, clock):
    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    assert await prompts(storage) == [
        ("session", datetime(2026, 12, 7, 18, 0, tzinfo=UTC), "pending"),
        ("morning", datetime(2026, 12, 8, 8, 0, tzinfo=UTC), "pending"),
        ("weekly", datetime(2026, 12, 13, 19, 0, tzinfo=UTC), "pending"),
        ("goal", datetime(2026, 12, 21, 18, 0, tzinfo=UTC), "pending"),
    ]


async def test_a_due_prompt_is_sent_once_with_start_snooze_and_skip(storage, content, clock):
    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    sender = CollectingSender()
    dispatcher = dispatcher_for(coach, sender)

    assert await dispatcher.run_due() == 0
    clock.now = datetime(2026, 12, 7, 18, 0, 30, tzinfo=UTC)
    assert await dispatcher.run_due() == 1
    assert await dispatcher.run_due() == 0

    [prompt] = sender.sent[USER]
    assert prompt.text.startswith("Time for your session")
    values = [value for row in prompt.buttons for _, value in row]
    assert values == [
        "session_offer:start",
        "session_offer:snooze_30",
        "session_offer:snooze_120",
        "session_offer:skip",
    ]
    kinds = [(kind, status) for kind, _, status in await prompts(storage)]
    assert ("session", "sent") in kinds and ("session", "pending") in kinds


async def test_a_restart_between_claiming_and_sending_delivers_the_prompt_exactly_once(
    database_url, storage, content, clock
):
    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    clock.now = datetime(2026, 12, 7, 18, 1, tzinfo=UTC)
    [due] = await storage.due_prompts(clock.now, 10)
    assert await coach.handle_prompt(due)  # claimed and committed... and then the process dies
    await storage.close()

    restarted = SqlStorage(make_engine(database_url))
    sender = CollectingSender()
    dispatcher = dispatcher_for(sql_coach(restarted, content, clock), sender)
    assert await dispatcher.run_due() == 1
    assert await dispatcher.run_due() == 0
    assert len(sender.sent[USER]) == 1
    await restarted.close()


async def test_two_dispatchers_racing_for_the_same_prompt_send_it_once(database_url, storage, content, clock):
    await onboard_with_schedule(sql_coach(storage, content, clock))
    clock.now = datetime(2026, 12, 7, 18, 1, tzinfo=UTC)
    other = SqlStorage(make_engine(database_url))
    first, second = CollectingSender(), CollectingSender()
    await asyncio.gather(
        dispatcher_for(sql_coach(storage, content, clock), first).run_due(),
        dispatcher_for(sql_coach(other, content, clock), second).run_due(),
    )
    assert len(first.sent.get(USER, [])) + len(second.sent.get(USER, [])) == 1
    await other.close()


async def test_a_prompt_missed_beyond_the_grace_window_is_skipped_and_mentioned_next_time(
    storage, content, clock
):
    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    sender = CollectingSender()
    clock.now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC) + timedelta(
        minutes=content.schedule.grace_minutes + 1
    )
    assert await dispatcher_for(coach, sender).run_due() == 0

    clock.now = datetime(2026, 12, 9, 18, 0, tzinfo=UTC)
    assert await dispatcher_for(coach, sender).run_due() >= 1
    texts = [m.text for m in sender.sent[USER]]
    assert any("missed you" in t for t in texts)
    assert texts[-1].startswith("Time for your session")


async def test_a_failed_delivery_stays_queued_and_goes_out_next_round(storage, content, clock):
    class FlakySender(CollectingSender):
        failures = 1

        async def send(self, user_id, messages, progress=None):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("telegram unreachable")
            await super().send(user_id, messages, progress)

    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    clock.now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    sender = FlakySender()
    dispatcher = dispatcher_for(coach, sender)
    assert await dispatcher.run_due() == 0
    assert await dispatcher.run_due() == 1
    async with storage.sessions() as session:
        statuses = (await session.scalars(select(Outbox.status))).all()
    assert set(statuses) == {"sent"}  # the turns' replies, and the prompt's once it went through


async def test_sending_starts_while_later_due_prompts_still_wait_for_their_turns(storage, content, clock):
    first_sent, turns = asyncio.Event(), []

    class SecondTurnWaitsForASend(Coach):
        async def handle_prompts(self, prompt_ids):
            turns.append(prompt_ids)
            if len(turns) == 2:
                await first_sent.wait()  # would never happen if sending waited for every turn first
            return await super().handle_prompts(prompt_ids)

    coach = SecondTurnWaitsForASend(storage, SqlReports(storage.engine), content, clock)
    for user in (USER, USER + 1):
        await onboard_with_schedule(coach, user)
    clock.now = datetime(2026, 12, 7, 18, 0, 30, tzinfo=UTC)

    class SignallingSender(CollectingSender):
        async def send(self, user_id, messages, progress=None):
            await super().send(user_id, messages, progress)
            first_sent.set()

    sender = SignallingSender()
    dispatcher = dispatcher_for(coach, sender, claim=1)  # the sending is woken for every row queued
    assert await asyncio.wait_for(dispatcher.run_due(), timeout=30) == 2
    assert sorted(sender.sent) == [USER, USER + 1]


async def test_check_ins_and_morning_answers_are_stored(storage, content, clock):
    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    clock.now = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    sender = CollectingSender()
    await dispatcher_for(coach, sender).run_due()
    assert sender.sent[USER][-1].text.startswith("Good morning")
    await said(coach, USER, Choice("morning_check:better"))
    async with storage.sessions() as session:
        [row] = (await session.scalars(select(CheckIn))).all()
    assert (row.exercise, row.pain, row.effort, row.control, row.morning) == (
        "kneeling_hip_thrust",
        2,
        "ok",
        "smooth",
        "better",
    )
