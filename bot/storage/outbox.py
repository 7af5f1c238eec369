"""The outbox: messages committed with the turn that decided them, sent part by part, none sent twice.

A row's messages go out as numbered parts (one Bot API call each). Right before a part's request
the row notes that part as in flight and every earlier one as settled; `done` settles the last. A
part whose answer never came (a read timeout, or the sender killed during the request) may or may
not have reached the user: it is counted unconfirmed and never sent again, and delivery carries on
with the next part. A sender killed after Telegram answered but before its next write leaves a
delivered part noted in flight: it is counted unconfirmed too, and not sent again.

Claims are kept alive by a heartbeat: a process refreshes `claimed_at` of every row it holds (claimed
by its dispatcher, or for a turn's caller) in one UPDATE every HEARTBEAT seconds, so the lease is
short and a dead process's rows go out soon. A row claimed at commit for a caller that never heard
of the commit is in nobody's heartbeat: it lapses, and a dispatcher sends it. A process that could
not refresh a claim for most of the lease gives it up before anyone else may take it (HOLD_MARGIN),
so two live senders never hold one row.

Bookkeeping is grouped: the notes, marks and heartbeat of every sender of a process that ask while
one write is under way go together in the next one (one transaction; group commit). Each note is
committed before its part's request, so the promise above holds.

A user's rows go out in the order their turns committed: a row is not sent while an earlier one of
the user's is unsent and its claim live (pending, or `sending` with a fresh claim). A stale claim (its
sender dead) holds nobody up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, bindparam, case, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hipcoach.bot.backoff import doubling
from hipcoach.bot.storage.db import reading
from hipcoach.bot.storage.models import Outbox, unsent
from hipcoach.bot.storage.port import Queued
from hipcoach.bot.storage.transactions import Transactions

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


class ClaimLost(Exception):
    """This process's claim on a row went unrefreshed too long: another sender may hold it now."""


class Progress(Protocol):
    """Where one delivery stands; a sender reports each part before its request, and any left unanswered."""

    first: int  # parts settled before this delivery began: start after them

    async def sending(self, part: int) -> None: ...
    async def unconfirmed(self, part: int) -> None: ...


class Untracked:
    """Progress for messages that are not in the outbox (a note to the human coach): nothing is kept."""

    first = 0

    async def sending(self, part: int) -> None:
        pass

    async def unconfirmed(self, part: int) -> None:
        pass


@dataclass(frozen=True)
class Mark:
    """One bookkeeping write of a row: a part noted in flight or unconfirmed, or the row settled."""

    outbox_id: int
    kind: str  # "sending", "unconfirmed", or a settling kind: "sent", "failed", "released"
    part: int = 0
    at: datetime | None = None  # when it was sent
    give_up_after: int = 0  # "failed": tries before the row is given up

    @property
    def settles(self) -> bool:
        return self.kind in ("sent", "failed", "released")


@dataclass(frozen=True)
class Batch:
    """One bookkeeping transaction: the heartbeat of the rows held, adoptions, and the marks on ours."""

    beat: datetime | None  # claimed_at of every row held, after it (None: no time known, none held)
    held: frozenset[int]
    adopt: frozenset[int]  # rows claimed for a caller: ours if claimed since `live_since` (None: all)
    live_since: datetime | None
    marks: tuple[Mark, ...]


class Book(Protocol):
    """The outbox's store, as the claims below use it."""

    async def write(self, batch: Batch) -> set[int]:
        """Write the batch in one transaction (marks only on rows held or adopted); the rows adopted."""
        ...

    async def earlier_unsent(self, outbox_id: int, user_id: int, live_since: datetime) -> bool:
        """Whether an earlier row of the user is pending, or `sending` with a claim since `live_since`."""
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

    def hold(self, outbox_id: int, clock: Clock) -> None:
        """A row claimed for a caller at its turn's commit: in the heartbeat from now on."""
        self.clock = clock
        if outbox_id not in self.held:
            self.adopting.add(outbox_id)
        self._keep_beating()

    async def in_turn(self, outbox_id: int, user_id: int) -> bool:
        """Wait while an earlier row of the user is still to be sent by a live sender; True when this
        one may go, False when it waited a lease in vain and was given back for the dispatcher."""
        for wait in (*ORDER_WAITS, None):
            now = self.now()
            try:
                if now is None or not await self.book.earlier_unsent(outbox_id, user_id, now - self.lease):
                    return True
            except Exception as error:  # the notes will find out whether the database is back
                log.warning("outbox=%s order not read (%s)", outbox_id, type(error).__name__)
                return True
            if wait is None:
                break
            await self.sleep(wait)
        log.info("outbox=%s waited a lease behind an earlier row: left for the dispatcher", outbox_id)
        await self.mark(Mark(outbox_id, "released"))
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
            try:
                ours = await self._write([asked.mark for asked in group if asked.mark is not None])
            except Exception as error:
                for asked in group:
                    self._forget_if_settling(asked.mark)  # its claim lapses (the lease)
                    if not asked.done.done():
                        asked.done.set_exception(error)
                continue
            for asked in group:
                self._answer(asked, ours)

    async def _write(self, marks: list[Mark]) -> set[int]:
        """One transaction for the group, retried through a short outage; the rows it found ours."""
        for wait in (*BOOKKEEPING_RETRIES, None):
            batch = self._batch(marks)  # made again each try: claims may have run out meanwhile
            if batch is None:
                return set()
            try:
                adopted = await self.book.write(batch)
                break
            except (DBAPIError, OSError) as error:
                if wait is None:
                    raise
                log.warning("outbox bookkeeping not written (%s); again in %s s", type(error).__name__, wait)
                await self.sleep(wait)
        self.writes += 1
        self.adopting -= batch.adopt
        self.lost |= batch.adopt - adopted
        if batch.beat is not None:
            for outbox_id in batch.held | adopted:
                self.held[outbox_id] = batch.beat
        return set(batch.held) | adopted

    def _batch(self, marks: list[Mark]) -> Batch | None:
        """What to write now: claims unrefreshed for too long are given up first (see HOLD_MARGIN)."""
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
        return Batch(now, frozenset(self.held), adopt, keep_since, ours)

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


class LeasedOutbox:
    """The outbox port over a store's claims (SqlOutbox, and the tests' in-memory fake)."""

    def __init__(self, claims: Claims) -> None:
        self.claims = claims
        self.lease = claims.lease

    async def _claim(self, limit: int, now: datetime, user_id: int | None) -> list[Queued]:
        raise NotImplementedError

    async def claim(self, limit: int, now: datetime, user_id: int | None = None) -> list[Queued]:
        """Claim committed messages not yet delivered, oldest first, for this process alone.

        Claimable: pending rows, and rows whose claim lapsed (its sender died); a part a dead sender had
        in flight is counted unconfirmed, not sent again. Left for a later claim: a row behind an
        earlier one of its user still to be sent (pending, or claimed by a live sender).
        """
        queued = await self._claim(limit, now, user_id)
        self.claims.claimed([q.id for q in queued], now)
        return queued

    def hold(self, outbox_id: int, clock: Clock) -> None:
        self.claims.hold(outbox_id, clock)

    async def in_turn(self, outbox_id: int, user_id: int) -> bool:
        return await self.claims.in_turn(outbox_id, user_id)

    async def sending(self, outbox_id: int, part: int) -> None:
        """`part`'s request is about to go out and every part before it is settled."""
        await self.claims.mark(Mark(outbox_id, "sending", part))

    async def unconfirmed(self, outbox_id: int, part: int) -> None:
        """`part` got no answer: it may have reached the user, so it is settled without a repeat."""
        await self.claims.mark(Mark(outbox_id, "unconfirmed", part))

    async def done(self, outbox_id: int, now: datetime, delivered: bool, give_up_after: int) -> None:
        """Mark a claimed row sent, or count a failed try and give it back (until `give_up_after`)."""
        self.claims.last_now = now
        kind = "sent" if delivered else "failed"
        await self.claims.mark(Mark(outbox_id, kind, at=now, give_up_after=give_up_after))

    async def beat(self, now: datetime) -> None:
        await self.claims.beat(now)


def live(row: Any, live_since: datetime) -> ColumnElement[bool]:
    """A row still to be sent: pending, or claimed since `live_since` by a sender still at it."""
    return or_(row.status == "pending", and_(row.status == "sending", row.claimed_at >= live_since))


_SETTLED = {"claimed_at": None, "part_in_flight": None}
_BY_ID = Outbox.id == bindparam("oid")
_MARKS = {
    "sending": update(Outbox)
    .where(_BY_ID)
    .values(parts_done=bindparam("part"), part_in_flight=bindparam("part")),
    "unconfirmed": update(Outbox)
    .where(_BY_ID)
    .values(parts_done=bindparam("next"), part_in_flight=None, unconfirmed=Outbox.unconfirmed + 1),
    "sent": update(Outbox).where(_BY_ID).values(status="sent", sent_at=bindparam("at"), **_SETTLED),
    "failed": update(Outbox)
    .where(_BY_ID)
    .values(
        status=case((Outbox.attempts + 1 >= bindparam("limit"), "failed"), else_="pending"),
        attempts=Outbox.attempts + 1,
        **_SETTLED,
    ),
    "released": update(Outbox).where(_BY_ID).values(status="pending", **_SETTLED),
}


def _parameters(mark: Mark) -> dict[str, Any]:
    return {
        "oid": mark.outbox_id,
        "part": mark.part,
        "next": mark.part + 1,
        "at": mark.at,
        "limit": mark.give_up_after,
    }


def _write_batch(batch: Batch, connection: Connection) -> set[int]:
    adopted: set[int] = set()
    if batch.adopt:
        query = select(Outbox.id).where(Outbox.id.in_(batch.adopt), Outbox.status == "sending")
        if batch.live_since is not None:
            query = query.where(Outbox.claimed_at >= batch.live_since)
        adopted = set(connection.scalars(query.with_for_update()))
    ours = batch.held | adopted
    if ours and batch.beat is not None:
        refresh = update(Outbox).where(Outbox.id.in_(ours), Outbox.status == "sending")
        connection.execute(refresh.values(claimed_at=batch.beat))
    for kind, statement in _MARKS.items():
        rows = [_parameters(m) for m in batch.marks if m.kind == kind and m.outbox_id in ours]
        if rows:
            connection.execute(statement, rows)
    return adopted


def in_order(candidates: list[Any], unsent: list[tuple[int, int]]) -> list[Any]:
    """The candidates (rows with `id`, `user_id`, by id) whose user's earlier unsent rows (user, id) are all
    candidates kept too: a user's rows go together, in order, but never past one someone else holds."""
    kept: list[Any] = []
    blocked: set[int] = set()  # users with an earlier row not kept
    candidate_ids = {row.id for row in candidates}
    earlier: dict[int, list[int]] = {}
    for user_id, outbox_id in unsent:
        earlier.setdefault(user_id, []).append(outbox_id)
    for row in candidates:
        ahead = [i for i in earlier.get(row.user_id, ()) if i < row.id]
        if row.user_id in blocked or any(i not in candidate_ids for i in ahead):
            blocked.add(row.user_id)
            continue
        kept.append(row)
    return kept


def _claim_rows(
    limit: int, now: datetime, lease: timedelta, user_id: int | None, connection: Connection
) -> list[Queued]:
    stale = now - lease
    query = (
        select(Outbox.id, Outbox.user_id, Outbox.payload, Outbox.parts_done, Outbox.part_in_flight)
        .where(
            unsent(Outbox),  # the partial index's own condition: status IN ('pending', 'sending')
            or_(Outbox.status == "pending", Outbox.claimed_at < stale),
        )
        .order_by(Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if user_id is not None:
        query = query.where(Outbox.user_id == user_id)
    candidates = connection.execute(query).all()
    if not candidates:
        return []
    # Rows of the same users still to be sent by someone else (or locked by another claim just now).
    ahead = select(Outbox.user_id, Outbox.id).where(
        Outbox.user_id.in_({row.user_id for row in candidates}),
        Outbox.id < max(row.id for row in candidates),
        unsent(Outbox),
        live(Outbox, stale),
    )
    rows = in_order(candidates, [(u, i) for u, i in connection.execute(ahead)])
    lapsed = [row for row in rows if row.part_in_flight is not None]
    for row in lapsed:
        log.warning("outbox=%s part=%s was in flight when its sender stopped", row.id, row.part_in_flight)
    if lapsed:
        parameters = [{"oid": r.id, "next": r.part_in_flight + 1} for r in lapsed]
        connection.execute(_MARKS["unconfirmed"], parameters)
    if rows:
        claim = update(Outbox).where(Outbox.id.in_([row.id for row in rows]))
        connection.execute(claim.values(status="sending", claimed_at=now))
    return [
        Queued(
            row.id,
            row.user_id,
            row.payload,
            row.parts_done if row.part_in_flight is None else row.part_in_flight + 1,
            row.part_in_flight is not None,
        )
        for row in rows
    ]


class SqlBook:
    """The outbox table as the claims write it: one transaction a batch (bot/storage/transactions.py)."""

    def __init__(self, transactions: Transactions, engine: AsyncEngine) -> None:
        self.transactions = transactions
        self.engine = engine

    async def write(self, batch: Batch) -> set[int]:
        return await self.transactions.write(partial(_write_batch, batch))

    async def earlier_unsent(self, outbox_id: int, user_id: int, live_since: datetime) -> bool:
        query = select(Outbox.id).where(
            Outbox.user_id == user_id,
            Outbox.id < outbox_id,
            unsent(Outbox),
            live(Outbox, live_since),
        )
        async with reading(self.engine) as connection:
            return await connection.scalar(query.limit(1)) is not None


class SqlOutbox(LeasedOutbox):
    """The outbox table: claims with leases (SKIP LOCKED) kept by a heartbeat, grouped bookkeeping."""

    def __init__(
        self,
        transactions: Transactions,
        engine: AsyncEngine,
        lease: timedelta = OUTBOX_LEASE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.transactions = transactions
        super().__init__(Claims(SqlBook(transactions, engine), lease, sleep, heartbeat))

    async def _claim(self, limit: int, now: datetime, user_id: int | None) -> list[Queued]:
        return await self.transactions.write(partial(_claim_rows, limit, now, self.lease, user_id))


class RowProgress:
    """Progress of one outbox row's delivery, written through (grouped) as it happens."""

    def __init__(self, outbox: Any, outbox_id: int, first: int = 0) -> None:
        self.outbox = outbox
        self.outbox_id = outbox_id
        self.first = first
        self.unconfirmed_parts = 0

    async def sending(self, part: int) -> None:
        await self.outbox.sending(self.outbox_id, part)

    async def unconfirmed(self, part: int) -> None:
        self.unconfirmed_parts += 1
        await self.outbox.unconfirmed(self.outbox_id, part)
