"""A process's claims on outbox rows: kept alive by a heartbeat, written in groups, given up in time.

A process refreshes `claimed_at` of every row it holds (claimed by its dispatcher, or for a turn's
caller) in one UPDATE every HEARTBEAT seconds, so the lease is short and a dead process's rows go out
soon. A row claimed at commit for a caller that never heard of the commit is in nobody's heartbeat: it
lapses, and a dispatcher sends it. A holder that could not refresh a claim for most of the lease gives
it up before anyone else may take it (HOLD_MARGIN), so two live senders never hold one row.

Bookkeeping is grouped: the notes, marks and heartbeat that the senders of a process ask for while one
write is under way go together in the next (group commit: one transaction on SQLite; on PostgreSQL a
statement a kind of mark, each atomic by itself, unless it adopts rows). Each waits for the write that
carries its note, so a part's note is committed before its request (bot/storage/outbox.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from hipcoach.bot.backoff import doubling

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Seconds between two refreshes of a process's claims.
HEARTBEAT = 5.0
# Six heartbeats: a live sender's claims ride out a database cut of 20 s or so, and a dead sender's
# messages go out half a minute after it died (plus a dispatcher round), not ten minutes.
OUTBOX_LEASE = timedelta(seconds=30)
# A holder gives a claim up once it went unrefreshed for the lease less this margin, which covers
# clocks that differ between replicas and a write slow to commit.
HOLD_MARGIN = OUTBOX_LEASE / 3
# Bookkeeping writes (notes, marks, heartbeats) are retried through a short database outage, so a
# delivered row is not left claimed: waits in seconds, then it gives up.
BOOKKEEPING_RETRIES = tuple(itertools.islice(doubling(0.5, 30.0), 7))  # 0.5 … 30 s, about a minute
# A caller's row behind an earlier one of the user's still being sent asks again after these waits
# (about a lease in all), then is given back for the dispatcher.
ORDER_WAITS = tuple(itertools.islice(doubling(0.1, 1.0), 34))  # 0.1 … 1 s, 30.5 s
SLOW_WAIT = 2.0  # seconds in line that are worth a line in the log


class ClaimLost(Exception):
    """This process's claim on a row went unrefreshed too long: another sender may hold it now."""


@dataclass(frozen=True)
class Mark:
    """One bookkeeping write of a row: a part noted in flight or unconfirmed, or the row settled."""

    outbox_id: int
    kind: str  # "sending", "unconfirmed", or a settling kind: "sent", "failed", "released"
    part: int = 0
    at: datetime | None = None  # when it was sent
    give_up_after: int = 0  # "failed": tries before the row is given up
    keyboards: tuple[int, ...] | None = None  # settling: the chat's live keyboards after it (None: unchanged)

    @property
    def settles(self) -> bool:
        return self.kind in ("sent", "failed", "released")


@dataclass(frozen=True)
class Batch:
    """One bookkeeping write: the heartbeat of the rows held, adoptions, and the marks on ours."""

    beat: datetime | None  # claimed_at of the rows refreshed, after it (None: no time known, none held)
    held: frozenset[int]
    refresh: frozenset[int]  # held rows whose claim is refreshed: all on a heartbeat, else the ageing ones
    adopt: frozenset[int]  # rows claimed for a caller: ours if claimed since `live_since` (None: all)
    live_since: datetime | None
    marks: tuple[Mark, ...]


class Book(Protocol):
    """The outbox's store, as the claims below use it."""

    async def write(self, batch: Batch) -> set[int]:
        """Write the batch in one transaction (marks only on rows held or adopted); the rows adopted."""
        ...

    async def earlier_unsent(self, outbox_id: int, user_id: int) -> bool:
        """Whether an earlier row of the user is still to be sent (pending, or `sending`: held by a live
        sender, or by a dead one until a dispatcher claims it again and sends it)."""
        ...


@dataclass
class _Asked:
    mark: Mark | None  # None: a heartbeat
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Claims:
    """A process's claims on outbox rows: kept alive by the heartbeat, written in groups, given up in time."""

    def __init__(
        self,
        book: Book,
        lease: timedelta,
        sleep: Callable[[float], Awaitable[None]],
        heartbeat: float = HEARTBEAT,
        margin: timedelta = HOLD_MARGIN,
        tick: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.book = book
        self.lease = lease
        self.sleep = sleep  # waits between retries, and in line behind a user's earlier row
        self.tick = tick or sleep  # the heartbeat's timer
        self.heartbeat = heartbeat
        self.margin = min(margin, lease / 3)
        self.held: dict[int, datetime] = {}  # row -> claimed_at last written by us
        self.adopting: set[int] = set()  # rows claimed for a caller here, not yet refreshed
        self.lost: set[int] = set()
        self.clock: Clock | None = None
        self.last_now: datetime | None = None  # without a clock: the latest time a caller gave
        self._asked: list[_Asked] = []
        self._writing: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self.writes = 0  # bookkeeping transactions committed

    def now(self) -> datetime | None:
        return self.clock() if self.clock is not None else self.last_now

    def claimed(self, ids: list[int], now: datetime) -> None:
        """Rows this process's claim took at `now`."""
        self.last_now = now
        for outbox_id in ids:
            self.held[outbox_id] = now
            self.lost.discard(outbox_id)
        self._keep_beating()

    def let_go(self, outbox_id: int) -> None:
        """Out of the heartbeat without a write (a delivery cancelled): its claim lapses with the lease."""
        self.held.pop(outbox_id, None)
        self.adopting.discard(outbox_id)
        self.lost.add(outbox_id)  # not to be taken up again by a note still on its way

    def hold(self, outbox_id: int, clock: Clock, claimed_at: datetime | None = None) -> None:
        """A row claimed for a caller at its turn's commit: in the heartbeat from now on.

        With `claimed_at` (the claim the commit wrote) it is held as the dispatcher's claims are; else
        the first write adopts it, if its claim is still live.
        """
        self.clock = clock
        if claimed_at is not None and outbox_id not in self.held and outbox_id not in self.lost:
            self.held[outbox_id] = claimed_at
        elif outbox_id not in self.held:
            self.adopting.add(outbox_id)
        self._keep_beating()

    async def in_turn(self, outbox_id: int, user_id: int) -> bool:
        """Wait while an earlier row of the user is still to be sent by a live sender; True when this
        one may go, False when it waited a lease in vain and was given back for the dispatcher."""
        waited = 0.0
        for wait in (*ORDER_WAITS, None):
            if not await self._behind(outbox_id, user_id):
                if waited >= SLOW_WAIT:
                    log.warning(
                        "outbox=%s waited %.1f s behind an earlier row of its user", outbox_id, waited
                    )
                return True
            if wait is None:
                break
            await self.sleep(wait)
            waited += wait
        log.warning("outbox=%s waited a lease behind an earlier row: left for the dispatcher", outbox_id)
        await self.mark(Mark(outbox_id, "released"))
        return False

    async def _behind(self, outbox_id: int, user_id: int) -> bool:
        now = self.now()
        try:
            return now is not None and await self.book.earlier_unsent(outbox_id, user_id)
        except Exception as error:  # can't tell: it goes, and its notes find out if the database is back
            log.warning("outbox=%s order not read (%s)", outbox_id, type(error).__name__)
            return False

    async def mark(self, mark: Mark) -> None:
        """Write `mark` with whatever else is asked meanwhile; raises ClaimLost if the row is not ours."""
        await self._ask(_Asked(mark))

    async def beat(self, now: datetime | None = None) -> None:
        """Refresh every claim held (joining any write under way)."""
        if now is not None:
            self.last_now = now
        await self._ask(_Asked(None))

    async def _ask(self, asked: _Asked) -> None:
        self._asked.append(asked)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())
        await asyncio.shield(asked.done)

    async def _write_all(self) -> None:
        while self._asked:
            group, self._asked = self._asked, []
            beating = any(asked.mark is None for asked in group)
            try:
                ours = await self._write([asked.mark for asked in group if asked.mark is not None], beating)
            except Exception as error:
                for asked in group:
                    self._forget_if_settling(asked.mark)  # its claim lapses (the lease)
                    if not asked.done.done():
                        asked.done.set_exception(error)
                continue
            for asked in group:
                self._answer(asked, ours)

    async def _write(self, marks: list[Mark], beating: bool) -> set[int]:
        """One transaction for the group, retried through a short outage; the rows it found ours."""
        for wait in (*BOOKKEEPING_RETRIES, None):
            batch = self._batch(marks, beating)  # made again each try: claims may have run out meanwhile
            if batch is None:
                return set()
            try:
                return self._written(batch, await self.book.write(batch))
            except (DBAPIError, OSError) as error:
                if wait is None:
                    raise
                log.warning("outbox bookkeeping not written (%s); again in %s s", type(error).__name__, wait)
                await self.sleep(wait)
        raise AssertionError("unreachable: the last try raises")

    def _written(self, batch: Batch, adopted: set[int]) -> set[int]:
        self.writes += 1
        self.adopting -= batch.adopt
        self.lost |= batch.adopt - adopted
        if batch.beat is not None:
            for outbox_id in (batch.refresh | adopted) - self.lost:
                self.held[outbox_id] = batch.beat
        return set(batch.held) | adopted

    def _batch(self, marks: list[Mark], beating: bool = True) -> Batch | None:
        """What to write now: claims unrefreshed for too long are given up first (see HOLD_MARGIN).

        A heartbeat refreshes every claim held; marks alone refresh those a heartbeat old or more (the
        heartbeat may be late), and the rows adopted: a refresh per note would double each note's work.
        """
        now = self.now()
        keep_since = None if now is None else now - (self.lease - self.margin)
        for outbox_id in [i for i, at in self.held.items() if keep_since is not None and at < keep_since]:
            log.warning("outbox=%s claim not refreshed in time: given up", outbox_id)
            del self.held[outbox_id]
            self.lost.add(outbox_id)
        asked = {m.outbox_id for m in marks} - self.held.keys() - self.lost
        adopt = frozenset(self.adopting | asked)
        mine = self.held.keys() | adopt
        if not mine:
            return None
        ours = tuple(m for m in marks if m.outbox_id in mine)
        ageing = None if now is None or beating else now - timedelta(seconds=self.heartbeat)
        refresh = frozenset(i for i, at in self.held.items() if ageing is None or at <= ageing)
        return Batch(now, frozenset(self.held), refresh, adopt, keep_since, ours)

    def _forget_if_settling(self, mark: Mark | None) -> None:
        if mark is not None and mark.settles:
            self.held.pop(mark.outbox_id, None)
            self.lost.discard(mark.outbox_id)
            self.adopting.discard(mark.outbox_id)

    def _answer(self, asked: _Asked, ours: set[int]) -> None:
        mark = asked.mark
        self._forget_if_settling(mark)
        if asked.done.done():
            return
        if mark is not None and not mark.settles and mark.outbox_id not in ours:
            asked.done.set_exception(ClaimLost(f"outbox={mark.outbox_id}"))
        else:
            asked.done.set_result(None)  # a settling mark on a row not ours has nothing to settle

    def _keep_beating(self) -> None:
        if self._beating is None or self._beating.done():
            self._beating = asyncio.create_task(self._beat_while_held())

    async def _beat_while_held(self) -> None:
        while self.held or self.adopting:
            await self.tick(self.heartbeat)
            if not (self.held or self.adopting):
                return
            try:
                await self.beat()
            except Exception as error:  # the next beat tries again; claims are given up in time
                log.warning("outbox heartbeat failed (%s)", type(error).__name__)
