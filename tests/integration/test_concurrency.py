"""Concurrent dispatchers and turns on one database: each prompt delivered once, no turn's update lost."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from hipcoach.bot.storage.db import make_engine
from hipcoach.bot.storage.models import Outbox, Prompt, User
from hipcoach.bot.storage.sql import SqlStorage
from hipcoach.flows.values import Effect, Message, SchedulePrompt, State
from tests.fakes import CollectingSender, dispatcher_for, sql_coach
from tests.integration.test_dispatcher import MONDAY_MORNING, USER, Clock, onboard_with_schedule
from tests.postgres import only_postgresql

USERS = 200
SESSION_TIME = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


async def schedule_like_the_first_user(storage: SqlStorage, content, clock: Clock, count: int) -> list[int]:
    """Onboard one user for real, then give `count - 1` more users the same state and a due session."""
    await onboard_with_schedule(sql_coach(storage, content, clock))
    state = await storage.load_state(USER)
    others = [USER + n for n in range(1, count)]
    for user_id in others:
        await keep(storage, user_id, state, SchedulePrompt("session", SESSION_TIME))
    return [USER, *others]


async def keep(storage: SqlStorage, user_id: int, state: State, *effects: Effect) -> None:
    """A turn's outcome committed through the unit of work, as the coach commits it."""
    async with storage.unit_of_work(MONDAY_MORNING) as work:
        await work.open_user(user_id)
        await work.apply(user_id, effects)
        await work.save(user_id, state)
        await work.commit()


async def count_by_status(storage: SqlStorage, table, since: datetime | None = None) -> dict[str, int]:
    query = select(table.status, func.count()).group_by(table.status)
    if since is not None:
        query = query.where(table.created_at >= since)
    async with storage.sessions() as session:
        return dict((await session.execute(query)).all())


@only_postgresql
async def test_two_dispatchers_on_separate_engines_deliver_each_of_many_due_prompts_exactly_once(
    database_url, storage, content
):
    clock = Clock(MONDAY_MORNING)
    users = await schedule_like_the_first_user(storage, content, clock, USERS)
    clock.now = datetime(2026, 12, 7, 18, 1, tzinfo=UTC)
    other = SqlStorage(make_engine(database_url))
    senders = [CollectingSender(), CollectingSender()]
    try:
        await asyncio.gather(
            dispatcher_for(sql_coach(storage, content, clock), senders[0]).run_due(),
            dispatcher_for(sql_coach(other, content, clock), senders[1]).run_due(),
        )
    finally:
        await other.close()

    received = Counter(
        user_id
        for sender in senders
        for user_id, messages in sender.sent.items()
        for message in messages
        if message.text.startswith("Time for your session")
    )
    assert received == Counter(users)
    assert (await count_by_status(storage, Prompt))["sent"] == USERS
    assert await count_by_status(storage, Outbox, since=clock.now) == {"sent": USERS}


async def test_concurrent_turns_of_one_user_are_serialised_so_no_update_is_lost(storage):
    async def append(n: int) -> None:
        async with storage.unit_of_work(MONDAY_MORNING) as work:
            state = (await work.open_user(USER)).state  # read under the user's lock, held until commit
            await asyncio.sleep(0)  # another turn of the user's would read the same state here
            await work.save(USER, State(state.name, {**state.data, "seen": [*state.data.get("seen", []), n]}))
            await work.commit()

    await asyncio.gather(*(append(n) for n in range(20)))

    seen = (await storage.load_state(USER)).data["seen"]
    assert sorted(seen) == list(range(20))


@only_postgresql
async def test_a_prompt_whose_user_is_mid_turn_is_left_for_the_next_round_instead_of_deadlocking(
    storage, content
):
    clock = Clock(MONDAY_MORNING)
    coach = sql_coach(storage, content, clock)
    await onboard_with_schedule(coach)
    clock.now = datetime(2026, 12, 7, 18, 1, tzinfo=UTC)
    [due, *_] = await storage.due_prompts(clock.now, 10)

    async with storage.sessions.begin() as turn:
        await turn.execute(select(User).where(User.id == USER).with_for_update())
        assert not await asyncio.wait_for(coach.handle_prompt(due), timeout=30)  # waiting would hang

    sender = CollectingSender()
    assert await dispatcher_for(coach, sender).run_due() == 1
    assert sender.sent[USER][0].text.startswith("Time for your session")


async def test_queued_messages_are_claimed_by_one_sender_until_the_claim_lapses(storage):
    await keep(storage, USER, State("idle"))
    async with storage.sessions.begin() as session:
        session.add(Outbox(user_id=USER, payload=[], created_at=MONDAY_MORNING, status="pending"))

    outbox = storage.outbox
    [claimed] = await outbox.claim(10, MONDAY_MORNING)
    assert await outbox.claim(10, MONDAY_MORNING + outbox.lease) == []
    later = MONDAY_MORNING + outbox.lease + timedelta(seconds=1)
    [reclaimed] = await outbox.claim(10, later)
    assert reclaimed.id == claimed.id

    await outbox.done(claimed.id, later, delivered=True, give_up_after=5)
    assert await outbox.claim(10, later + 2 * outbox.lease) == []


async def test_a_row_that_keeps_failing_is_given_back_until_its_last_try_and_then_marked_failed(storage):
    await keep(storage, USER, State("idle"))
    async with storage.sessions.begin() as session:
        session.add(Outbox(user_id=USER, payload=[], created_at=MONDAY_MORNING, status="pending"))
    outbox, statuses = storage.outbox, []
    for _ in range(3):
        [claimed] = await outbox.claim(10, MONDAY_MORNING)
        await outbox.done(claimed.id, MONDAY_MORNING, delivered=False, give_up_after=3)
        async with storage.sessions() as session:
            row = await session.get(Outbox, claimed.id)
            statuses.append((row.status, row.attempts, row.claimed_at))
    assert statuses == [("pending", 1, None), ("pending", 2, None), ("failed", 3, None)]
    assert await outbox.claim(10, MONDAY_MORNING) == []


async def test_a_part_in_flight_when_its_sender_died_is_counted_unconfirmed_and_never_sent_again(
    storage, content
):
    await keep(storage, USER, State("idle"))
    payload = [Message(text).to_json() for text in ("one", "two", "three")]
    async with storage.sessions.begin() as session:
        session.add(Outbox(user_id=USER, payload=payload, created_at=MONDAY_MORNING, status="pending"))
    outbox = storage.outbox
    [claimed] = await outbox.claim(10, MONDAY_MORNING)
    await outbox.sending(claimed.id, 0)
    await outbox.sending(claimed.id, 1)  # part 0 went out; then the sender is killed during part 1

    clock = Clock(MONDAY_MORNING + outbox.lease + timedelta(seconds=1))
    sender = CollectingSender()
    assert await dispatcher_for(sql_coach(storage, content, clock), sender).flush() == 1
    assert [m.text for m in sender.sent[USER]] == ["three"]
    async with storage.sessions() as session:
        row = await session.get(Outbox, claimed.id)
    assert (row.status, row.parts_done, row.part_in_flight, row.unconfirmed) == ("sent", 2, None, 1)
