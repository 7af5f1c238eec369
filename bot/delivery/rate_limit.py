"""Telegram's global send rate, shared by every replica: at most `rate` messages in any one second.

On PostgreSQL every replica counts its sends in one table, a row per second (`send_slots`).

The slots of a second are spread over its first three quarters, slot k (from 1) at (k - 1) / rate of
them. A sender takes the first free slot whose moment has come, or one of the `CATCH_UP` before it
(slots that passed unused before that are skipped), else a later one: of this second, or, once it
is full, of the next free one, booked now. Booking ahead keeps every slot of a busy second taken,
however late a sender wakes; it then waits for its slot's moment. So sends are evenly spaced, hardly
more than `rate` in any sliding second; counting whole seconds alone would let one second's sends
bunch at its end and the next second's at its start, twice the rate within one sliding second.

    INSERT INTO send_slots (second, used) VALUES (:second, :earliest)
    ON CONFLICT (second) DO UPDATE SET used = GREATEST(send_slots.used, :earliest - 1) + 1
    WHERE GREATEST(send_slots.used, :earliest - 1) + 1 <= :rate
    RETURNING used

A row back is the slot taken; none means the second is full. The row lock taken by the upsert makes
the count exact across replicas. The second comes from the replica's clock (kept right by NTP, as
due prompts already need). The sender that opens a second deletes rows older than a minute.

Telegram counts a message when it arrives, up to a round trip after its request starts. No slot
lies in a second's last quarter (`GUARD`), and no request starts in it either (`on_time`): the
quarter is what a message has to arrive in its own second. Starting later (up to a learnt round trip
before the end), sends held up by a busy process's stalled event loop spilled into the next, full
second (the replicas chaos case, 5 runs of 21); and a learnt round trip near a second left no slot on
time at all. A sender's in-flight note is begun as long before its slot's moment as notes usually
take; one woken or held up later than that takes another slot, so that its message does not arrive
in the next second and push that one over the rate.

On SQLite, which one process serves, the count is kept in memory: one limiter per database.

When the table cannot be reached (the database is down), a replica counts its own sends in memory
until the database answers again, logged once each way: the apology for a turn that could not
commit must still go out, and Telegram's own 429 answers bound what several replicas then send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlalchemy import delete, func, literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from hipcoach.bot.storage.models import SendSlot

if TYPE_CHECKING:
    from sqlalchemy.sql.dml import ReturningInsert

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

DEFAULT_RATE = 30  # messages per second: Telegram's limit for a bot's messages to different chats
MAX_WAITS = 60  # seconds ahead a sender may book a slot before it gives up; the outbox tries again
KEEP = timedelta(minutes=1)  # how long counted seconds stay in the table
SECOND = timedelta(seconds=1)
GUARD = timedelta(milliseconds=250)  # the end of each second, in which no slot lies
SPREAD = SECOND - GUARD  # the part of each second its slots are spread over
LEARNING = 20  # sends over which the usual time of an in-flight note is mostly learnt
CATCH_UP = 2  # slots a held-up sender may still take after their moment passed


class SendRateTimeout(RuntimeError):
    """No send slot came free within the limiter's maximum wait."""


class SendLimiter(Protocol):
    async def send(
        self, request: Callable[[], Awaitable[T]], before: Callable[[], Awaitable[None]] | None
    ) -> T:
        """Run `request` in a slot, `before` (the part's in-flight note) right before it."""
        ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def second_of(moment: datetime) -> datetime:
    """The whole second (UTC) that `moment` falls in."""
    return moment.astimezone(UTC).replace(microsecond=0)


class _PerSecondLimiter:
    """Shared by both limiters: the clock, the sleep, and the bounded search for a second with a free slot."""

    def __init__(self, rate: int, clock: Clock, sleep: Sleep, max_waits: int) -> None:
        if rate < 1:
            raise ValueError("the send rate must be at least 1 message per second")
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.max_waits = max_waits
        self.full_until = datetime.min.replace(tzinfo=UTC)  # the seconds before it are full: not asked again
        self.noting = timedelta(0)  # how long a send's `before` (its in-flight note) takes, lately

    async def acquire(self) -> datetime:
        """Wait for a slot to send one message; returns the second (UTC) the slot belongs to."""
        second, moment = await self._book()
        await self._wait_until(moment)
        return second

    async def send(
        self, request: Callable[[], Awaitable[T]], before: Callable[[], Awaitable[None]] | None
    ) -> T:
        """Run `request` in a slot, with `before` begun as long before the slot's moment as it usually
        takes; a later slot if it took so long that the message would arrive in the next second."""
        second, moment = await self._book()
        if before is not None:
            await self._wait_until(moment - self.noting)
            noting = self.clock()
            await before()
            self.noting += (self.clock() - noting - self.noting) / LEARNING
        await self._wait_until(moment)
        while not self.on_time(second):
            second = await self.acquire()
        return await request()

    async def _book(self) -> tuple[datetime, datetime]:
        """The slot to take (the module's docstring says which): its second and its moment."""
        now = self.clock()
        second, spacing = second_of(now), SPREAD / self.rate
        earliest = max((now - second) // spacing + 1 - CATCH_UP, 1)
        if now - second >= SPREAD:
            second, earliest = second + SECOND, 1
        for _ in range(self.max_waits + 1):
            slot = None if second < self.full_until else await self._take(second, earliest)
            if slot is not None:
                return second, second + spacing * (slot - 1)
            self.full_until = max(self.full_until, second + SECOND)
            second, earliest = second + SECOND, 1
        raise SendRateTimeout(f"no send slot free within {self.max_waits} seconds")

    def on_time(self, second: datetime) -> bool:
        """Whether a request starting now still reaches Telegram within `second`."""
        return self.clock() < second + SPREAD

    async def _wait_until(self, moment: datetime) -> None:
        wait = (moment - self.clock()).total_seconds()
        if wait > 0:
            await self.sleep(wait)

    async def _take(self, second: datetime, earliest: int) -> int | None:
        """Take the first free slot of `second` from number `earliest` on: its number, or None if full."""
        raise NotImplementedError


class LocalSendLimiter(_PerSecondLimiter):
    """At most `rate` slots per second for the senders of one process."""

    def __init__(
        self, rate: int, clock: Clock = utc_now, sleep: Sleep = asyncio.sleep, max_waits: int = MAX_WAITS
    ) -> None:
        super().__init__(rate, clock, sleep, max_waits)
        self.used: dict[datetime, int] = {}  # slots taken, by second: this one and those booked ahead

    async def _take(self, second: datetime, earliest: int) -> int | None:
        # No await between the check and the count: the event loop runs one sender at a time here.
        if second not in self.used:
            now = second_of(self.clock())
            self.used = {kept: used for kept, used in self.used.items() if kept >= now}
        slot = max(self.used.get(second, 0), earliest - 1) + 1
        if slot > self.rate:
            return None
        self.used[second] = slot
        return slot


class SqlSendLimiter(_PerSecondLimiter):
    """At most `rate` slots per second for every sender on the database, in any process."""

    def __init__(
        self,
        engine: AsyncEngine,
        rate: int,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        max_waits: int = MAX_WAITS,
    ) -> None:
        super().__init__(rate, clock, sleep, max_waits)
        self.engine = engine
        self.local = LocalSendLimiter(rate, clock, sleep, max_waits)  # while the table cannot be reached
        self.unreachable = False

    async def _take(self, second: datetime, earliest: int) -> int | None:
        """A slot from the shared table, or from this process's own count while the table is unreachable."""
        try:
            slot = await self._take_shared(second, earliest)
        except Exception as error:  # its message may quote parameters: only its type is logged
            if not self.unreachable:
                log.warning("send slots unreachable: counting in this process error=%s", type(error).__name__)
                self.unreachable = True
            return await self.local._take(second, earliest)
        if self.unreachable:
            log.info("send slots reachable again")
            self.unreachable = False
        return slot

    async def _take_shared(self, second: datetime, earliest: int) -> int | None:
        """Take the first free slot from `earliest` on; the sender that opens a second prunes old rows."""
        taken = func.greatest(SendSlot.used, earliest - 1) + 1
        slot: ReturningInsert[int, bool] = (
            postgresql.insert(SendSlot)
            .values(second=second, used=earliest)
            .on_conflict_do_update(
                index_elements=[SendSlot.second], set_={"used": taken}, where=taken <= self.rate
            )
            .returning(SendSlot.used, literal_column("xmax = 0").label("opened"))  # xmax 0: a new row
        )
        async with self.engine.begin() as connection:
            row = (await connection.execute(slot)).first()
            if row is not None and row.opened:
                await connection.execute(delete(SendSlot).where(SendSlot.second < second - KEEP))
        return None if row is None else row.used


_LOCAL: dict[str, LocalSendLimiter] = {}


def limiter_for(
    engine: AsyncEngine | None, rate: int = DEFAULT_RATE, clock: Clock = utc_now, sleep: Sleep = asyncio.sleep
) -> SendLimiter:
    """The limiter every sender on this database shares: the table on PostgreSQL, else one in memory.

    In memory, senders of one process on separate engines for the same database share one limiter.
    """
    if engine is not None and engine.dialect.name == "postgresql":
        return SqlSendLimiter(engine, rate, clock, sleep)
    key = "" if engine is None else engine.url.render_as_string(hide_password=True)
    limiter = _LOCAL.get(key)
    if limiter is None or limiter.rate != rate:
        limiter = _LOCAL[key] = LocalSendLimiter(rate, clock, sleep)
    return limiter
