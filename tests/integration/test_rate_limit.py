"""Telegram's send rate is shared: senders on separate engines never exceed it together in any second."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from telegram.error import RetryAfter

from hipcoach.bot.delivery.rate_limit import LocalSendLimiter, SendRateTimeout, limiter_for
from hipcoach.bot.storage.db import make_engine
from hipcoach.bot.storage.models import SendSlot
from hipcoach.bot.storage.sql import SqlStorage
from hipcoach.bot.telegram.sender import TelegramSender
from hipcoach.flows import Message
from tests.postgres import only_postgresql
from tests.simulated_time import SimulatedTime

START = datetime(2026, 12, 7, 18, 0, 0, 700_000, tzinfo=UTC)  # late in a second: windows are crossed


class FakeTime:
    """A clock that moves only when a sender sleeps: no real waiting, and every second is countable."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # let the other senders run, as a real sleep would


async def test_concurrent_senders_on_separate_engines_never_exceed_the_rate_in_any_second(
    storage: SqlStorage, database_url
):
    rate, senders, sends_each = 5, 4, 12
    time = FakeTime()
    engines = [make_engine(database_url) for _ in range(senders)]
    try:
        limiters = [limiter_for(engine, rate, time.clock, time.sleep) for engine in engines]

        async def send_all(limiter) -> list[datetime]:
            return [await limiter.acquire() for _ in range(sends_each)]

        granted = [second for seconds in await asyncio.gather(*map(send_all, limiters)) for second in seconds]
    finally:
        for engine in engines:
            await engine.dispose()

    per_second = Counter(granted)
    assert sum(per_second.values()) == senders * sends_each
    assert max(per_second.values()) <= rate
    assert len(per_second) >= senders * sends_each / rate
    assert time.sleeps, "the senders had to wait for free seconds"


async def test_replicas_sharing_the_send_slots_take_every_slot_of_every_second_and_no_more(
    storage: SqlStorage, database_url
):
    rate, replicas, senders_each, sends_each = 10, 3, 4, 10
    start = START.replace(microsecond=0)
    time = SimulatedTime(start)
    engines = [make_engine(database_url) for _ in range(replicas)]

    async def send_all(limiter) -> list[datetime]:
        granted = []
        for _ in range(sends_each):
            granted.append(await limiter.acquire())
            await time.sleep(0.05)  # the request's round trip
        return granted

    try:
        limiters = [limiter_for(engine, rate, time.clock, time.sleep) for engine in engines]
        senders = [send_all(limiter) for limiter in limiters for _ in range(senders_each)]
        granted = [second for seconds in await time.run(*senders) for second in seconds]
    finally:
        for engine in engines:
            await engine.dispose()

    per_second = Counter(granted)
    assert [per_second[start + timedelta(seconds=n)] for n in range(len(per_second))] == [rate] * 12


@only_postgresql
async def test_on_postgresql_the_count_lives_in_the_database_and_old_seconds_are_pruned(storage):
    time = FakeTime()
    limiter = limiter_for(storage.engine, 2, time.clock, time.sleep)
    first = [await limiter.acquire() for _ in range(3)]
    second = START.replace(microsecond=0)
    assert first == [second, second, second + timedelta(seconds=1)]

    time.now = time.now.replace(microsecond=0) + timedelta(minutes=5)
    await limiter.acquire()

    async with storage.sessions() as session:
        rows = (await session.execute(select(SendSlot.second, SendSlot.used))).all()
        assert rows == [(time.now.replace(microsecond=0), 1)]
        assert await session.scalar(select(func.count()).select_from(SendSlot)) == 1


async def test_a_sender_books_no_slot_further_ahead_than_its_bound_and_gives_up():
    stopped = FakeTime()

    async def sleep_without_time_passing(seconds: float) -> None:
        stopped.sleeps.append(seconds)

    limiter = LocalSendLimiter(1, stopped.clock, sleep_without_time_passing, max_waits=3)
    booked = [await limiter.acquire() for _ in range(4)]  # this second's and the next three
    with pytest.raises(SendRateTimeout):
        await limiter.acquire()
    assert booked == [START.replace(microsecond=0) + timedelta(seconds=n) for n in range(4)]


async def test_no_slot_is_granted_in_the_last_quarter_of_a_second_so_sends_arrive_within_their_second():
    time = FakeTime(datetime(2026, 12, 7, 18, 0, 0, 800_000, tzinfo=UTC))
    limiter = LocalSendLimiter(5, time.clock, time.sleep)

    assert await limiter.acquire() == datetime(2026, 12, 7, 18, 0, 1, tzinfo=UTC)
    assert time.sleeps == [pytest.approx(0.2)]


class RecordingLimiter:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def acquire(self) -> datetime:
        self.log.append("slot")
        return START

    async def send(self, request, before):
        await self.acquire()
        if before is not None:
            await before()
        return await request()


class FlakyBot:
    """Refuses its first message with 429, then accepts; notes each message it accepts."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.refused = False

    async def send_message(self, chat_id: int, text: str, **_: object) -> None:
        if not self.refused:
            self.refused = True
            raise RetryAfter(timedelta(seconds=1))
        self.log.append(f"send {text}")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own
async def test_the_sender_takes_a_slot_before_every_message_and_every_retry():
    log: list[str] = []

    async def deactivate(user_id: int) -> None:
        raise AssertionError("nobody blocked the bot")

    async def no_sleep(seconds: float) -> None:
        log.append("wait")

    sender = TelegramSender(FlakyBot(log), deactivate, no_sleep, limiter=RecordingLimiter(log))
    await sender.send(1, [Message("one"), Message("two")])

    assert log == ["slot", "wait", "slot", "send one", "slot", "send two"]


async def test_answering_a_button_takes_no_send_slot():
    log: list[str] = []

    async def answer() -> bool:
        log.append("answered")
        return True

    sender = TelegramSender(FlakyBot(log), lambda _: asyncio.sleep(0), limiter=RecordingLimiter(log))
    assert await sender.call(answer)
    assert log == ["answered"]


async def test_sqlite_senders_of_one_process_share_one_limiter(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engines = [make_engine(url), make_engine(url)]
    try:
        first, second = (limiter_for(engine, 30) for engine in engines)
        assert first is second
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_slots_of_a_second_are_spread_over_it_so_no_sliding_second_gets_twice_the_rate():
    start = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
    time = FakeTime(start)
    limiter = LocalSendLimiter(5, time.clock, time.sleep)
    sent_at = []
    for _ in range(10):
        await limiter.acquire()
        sent_at.append((time.now - start).total_seconds())
    assert sent_at == pytest.approx([0, 0.15, 0.3, 0.45, 0.6, 1, 1.15, 1.3, 1.45, 1.6])
    assert max(sum(1 for t in sent_at if a <= t < a + 1) for a in sent_at) == 5


async def test_a_sender_held_up_catches_up_two_slots_and_skips_the_rest_instead_of_a_burst():
    start = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
    time = FakeTime(start)
    limiter = LocalSendLimiter(10, time.clock, time.sleep)  # a slot every 0.075 s
    await limiter.acquire()
    time.now = start + timedelta(seconds=0.5)  # held up half a second (a slow database, say)
    sent_at = []
    for _ in range(5):
        await limiter.acquire()
        sent_at.append((time.now - start).total_seconds())
    # Slot 7 (0.45 s) has come; 5 and 6 are caught up, 2 to 4 skipped; 8 and 9 go at their moments.
    assert sent_at == pytest.approx([0.5, 0.5, 0.5, 0.525, 0.6])
