"""The outbox: messages committed with the turn that decided them, sent part by part, none sent twice.

A row's messages go out as numbered parts (one Bot API call each). Right before a part's request
the row notes that part as in flight and every earlier one as settled (one write a part); `done`
settles the last. A part whose answer never came (a read timeout, or the sender killed during the
request) may or may not have reached the user: it is counted unconfirmed and never sent again, and
delivery carries on with the next part. A sender killed after Telegram answered but before its next
write leaves a delivered part noted in flight: it is counted unconfirmed too, and not sent again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hipcoach.bot.backoff import doubling
from hipcoach.bot.storage.db import WriteGate
from hipcoach.bot.storage.models import Outbox
from hipcoach.bot.storage.port import Outbox as OutboxPort
from hipcoach.bot.storage.port import Queued

log = logging.getLogger(__name__)

# Long enough for a rate-limited sender to work through a claimed batch; a crashed sender's
# messages go out after it.
OUTBOX_LEASE = timedelta(minutes=10)
# Bookkeeping writes (a part in flight, the final mark) are retried through a short database outage,
# so a delivered row is not left claimed until its lease runs out: waits in seconds, then it gives up.
BOOKKEEPING_RETRIES = tuple(itertools.islice(doubling(0.5, 30.0), 7))  # 0.5 … 30 s, about a minute


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


class SqlOutbox:
    """The outbox table: claims with leases (SKIP LOCKED), per-part progress, and the final mark."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writing: WriteGate,
        lease: timedelta = OUTBOX_LEASE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`sessions` and `writing` are the storage's own: one writer at a time covers both."""
        self.sessions = sessions
        self.writing = writing
        self.lease = lease
        self.sleep = sleep

    async def claim(self, limit: int, now: datetime, user_id: int | None = None) -> list[Queued]:
        """Claim committed messages not yet delivered, oldest first, for this caller alone.

        A claim not settled by `done` within the lease (its sender died) lapses and the row is
        claimed again; a part its sender had in flight is counted unconfirmed, not sent again.
        """
        claimable = or_(
            Outbox.status == "pending",
            and_(Outbox.status == "sending", Outbox.claimed_at < now - self.lease),
        )
        query = select(Outbox).where(claimable).order_by(Outbox.id).limit(limit)
        if user_id is not None:
            query = query.where(Outbox.user_id == user_id)
        async with self.writing(), self.sessions.begin() as session:
            rows = (await session.scalars(query.with_for_update(skip_locked=True))).all()
            return [self._claim_row(row, now) for row in rows]

    def _claim_row(self, row: Outbox, now: datetime) -> Queued:
        lapsed = row.part_in_flight is not None
        if row.part_in_flight is not None:
            log.warning("outbox=%s part=%s was in flight when its sender stopped", row.id, row.part_in_flight)
            row.parts_done, row.unconfirmed = row.part_in_flight + 1, row.unconfirmed + 1
            row.part_in_flight = None
        row.status, row.claimed_at = "sending", now
        return Queued(row.id, row.user_id, row.payload, row.parts_done, lapsed)

    async def sending(self, outbox_id: int, part: int) -> None:
        """`part`'s request is about to go out and every part before it is settled."""
        await self._set(outbox_id, parts_done=part, part_in_flight=part)

    async def unconfirmed(self, outbox_id: int, part: int) -> None:
        """`part` got no answer: it may have reached the user, so it is settled without a repeat."""
        await self._set(
            outbox_id, parts_done=part + 1, part_in_flight=None, unconfirmed=Outbox.unconfirmed + 1
        )

    async def _set(self, outbox_id: int, **values: Any) -> None:
        """One bookkeeping write, retried through a short outage (BOOKKEEPING_RETRIES)."""
        for wait in (*BOOKKEEPING_RETRIES, None):
            try:
                async with self.writing(), self.sessions.begin() as session:
                    await session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))
                return
            except (DBAPIError, OSError) as error:
                if wait is None:
                    raise
                log.warning("outbox=%s not marked (%s); again in %s s", outbox_id, type(error).__name__, wait)
                await self.sleep(wait)

    async def done(self, outbox_id: int, now: datetime, delivered: bool, give_up_after: int) -> None:
        """Mark a claimed row sent, or count a failed try and give it back (until `give_up_after`)."""
        if delivered:
            await self._set(outbox_id, status="sent", sent_at=now, claimed_at=None, part_in_flight=None)
            return
        gave_up = case((Outbox.attempts + 1 >= give_up_after, "failed"), else_="pending")
        await self._set(
            outbox_id, status=gave_up, attempts=Outbox.attempts + 1, claimed_at=None, part_in_flight=None
        )


class RowProgress:
    """Progress of one outbox row's delivery, written through as it happens."""

    def __init__(self, outbox: OutboxPort, outbox_id: int, first: int = 0) -> None:
        self.outbox = outbox
        self.outbox_id = outbox_id
        self.first = first
        self.unconfirmed_parts = 0

    async def sending(self, part: int) -> None:
        await self.outbox.sending(self.outbox_id, part)

    async def unconfirmed(self, part: int) -> None:
        self.unconfirmed_parts += 1
        await self.outbox.unconfirmed(self.outbox_id, part)
