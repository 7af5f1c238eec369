"""A process's outbox claims (bot/storage/claims.py): the heartbeat, group commit, retries, giving up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from hipcoach.bot.storage.claims import (
    BOOKKEEPING_RETRIES,
    HEARTBEAT,
    OUTBOX_LEASE,
    Batch,
    ClaimLost,
    Claims,
    Mark,
)
from tests.fakes import FakeClock

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
GUARD = 5  # seconds: a test that hangs fails instead


class Book:
    """Records every batch; a write can be held open (`hold`), fail (`failures`), or refuse adoptions."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.written = asyncio.Event()
        self.entered = asyncio.Event()  # a write has begun
        self.hold: asyncio.Event | None = None
        self.failures = 0
        self.not_ours: set[int] = set()

    async def write(self, batch: Batch) -> set[int]:
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE outbox", {}, ConnectionResetError("cut"))
        self.batches.append(batch)
        self.written.set()
        return set(batch.adopt) - self.not_ours

    async def earlier_unsent(self, outbox_id: int, user_id: int) -> bool:
        return False


class Ticks:
    """The heartbeat's timer: each tick waits until the test lets it go."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.go: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.go.get()


def claims_on(book: Book, ticks: Ticks | None = None, waits: list[float] | None = None) -> Claims:
    async def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    return Claims(book, OUTBOX_LEASE, sleep, tick=ticks or Ticks())


async def next_write(book: Book) -> Batch:
    book.written.clear()
    await asyncio.wait_for(book.written.wait(), GUARD)
    return book.batches[-1]


async def test_the_heartbeat_refreshes_every_claim_held_in_one_write_until_none_is_held() -> None:
    book, ticks, clock = Book(), Ticks(), FakeClock(NOW)
    claims = claims_on(book, ticks)
    claims.claimed([1, 2], NOW)
    claims.hold(3, clock)  # a turn's row, claimed at its commit

    for beat in range(1, 3):
        clock.advance(timedelta(seconds=HEARTBEAT))
        ticks.go.put_nowait(None)
        batch = await next_write(book)
        assert batch.beat == NOW + beat * timedelta(seconds=HEARTBEAT) and batch.marks == ()
        assert set(batch.held) | set(batch.adopt) == {1, 2, 3}

    for outbox_id in (1, 2, 3):
        await claims.mark(Mark(outbox_id, "sent", at=clock()))
    assert claims._beating is not None
    ticks.go.put_nowait(None)
    await asyncio.wait_for(claims._beating, GUARD)  # nothing held: the heartbeat stops
    assert len(book.batches) == 2 + 3
    assert ticks.asked == [HEARTBEAT] * 3


async def test_notes_asked_during_a_write_go_together_in_the_next_and_none_returns_before_its_commit() -> (
    None
):
    book, clock = Book(), FakeClock(NOW)
    claims = claims_on(book)
    for outbox_id in (1, 2, 3):
        claims.hold(outbox_id, clock)
    book.hold = asyncio.Event()

    first = asyncio.create_task(claims.mark(Mark(1, "sending", 0)))
    await asyncio.wait_for(book.entered.wait(), GUARD)  # the first write begins, and is held open
    later = [asyncio.create_task(claims.mark(Mark(i, "sending", 0))) for i in (2, 3)]
    await asyncio.sleep(0)  # they ask
    assert not first.done() and not any(task.done() for task in later)

    book.hold.set()
    await asyncio.wait_for(asyncio.gather(first, *later), GUARD)

    assert [[m.outbox_id for m in batch.marks] for batch in book.batches] == [[1], [2, 3]]
    assert claims.writes == 2


async def test_bookkeeping_is_retried_through_a_short_outage() -> None:
    book, clock, waits = Book(), FakeClock(NOW), []
    claims = claims_on(book, waits=waits)
    claims.hold(1, clock)
    book.failures = 2

    await claims.mark(Mark(1, "sending", 0))

    assert waits == list(BOOKKEEPING_RETRIES[:2])
    assert [m.kind for m in book.batches[0].marks] == ["sending"]


async def test_a_claim_unrefreshed_for_most_of_its_lease_is_given_up_and_its_next_part_not_noted() -> None:
    book, clock = Book(), FakeClock(NOW)
    claims = claims_on(book)
    claims.claimed([1], NOW)
    clock.advance(OUTBOX_LEASE - claims.margin + timedelta(seconds=1))
    claims.hold(1, clock)

    with pytest.raises(ClaimLost):
        await claims.mark(Mark(1, "sending", 0))
    await claims.mark(Mark(1, "sent", at=clock()))  # nothing of ours to settle

    assert book.batches == []
    assert not claims.held


async def test_a_turns_row_whose_claim_lapsed_before_its_first_note_is_not_sent() -> None:
    book, clock = Book(), FakeClock(NOW)
    book.not_ours = {7}  # its claim ran out before its caller came to it: someone else may send it
    claims = claims_on(book)
    claims.hold(7, clock)

    with pytest.raises(ClaimLost):
        await claims.mark(Mark(7, "sending", 0))

    assert book.batches[0].adopt == {7} and book.batches[0].live_since == NOW - (OUTBOX_LEASE - claims.margin)


async def test_a_row_let_go_during_a_write_leaves_the_heartbeat_and_its_claim_lapses() -> None:
    book, clock = Book(), FakeClock(NOW)
    claims = claims_on(book)
    claims.hold(1, clock)
    claims.hold(2, clock)
    book.hold = asyncio.Event()
    noting = asyncio.create_task(claims.mark(Mark(1, "sending", 0)))
    await asyncio.wait_for(book.entered.wait(), GUARD)  # the write begins, and is held open

    claims.let_go(1)  # its delivery was cancelled
    book.hold.set()
    await asyncio.wait_for(noting, GUARD)
    await claims.beat(clock())

    assert set(claims.held) == {2}
    assert book.batches[-1].held == {2} and not book.batches[-1].adopt
