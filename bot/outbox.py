"""The outbox: messages committed with the turn that decided them, sent part by part, none sent twice.

A row's messages go out as numbered parts (one Bot API call each). Before a part's request the row
notes the part as in flight; after Telegram's answer it counts the part as sent. A part whose answer
never came (a read timeout, or the sender killed mid-request) may or may not have reached the user:
it is counted as unconfirmed and never sent again, and delivery carries on with the next part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Outbox

log = logging.getLogger(__name__)

# Long enough for a rate-limited sender to work through a claimed batch; a crashed sender's
# messages go out after it.
OUTBOX_LEASE = timedelta(minutes=10)


class Progress(Protocol):
    """Where one delivery stands; a sender reports each part before and after its request."""

    first: int  # parts settled before this delivery began: start after them

    async def sending(self, part: int) -> None: ...
    async def sent(self, part: int, last: bool) -> None: ...
    async def unconfirmed(self, part: int) -> None: ...


class Untracked:
    """Progress for messages that are not in the outbox (a note to the human coach): nothing is kept."""

    first = 0

    async def sending(self, part: int) -> None:
        pass

    async def sent(self, part: int, last: bool) -> None:
        pass

    async def unconfirmed(self, part: int) -> None:
        pass


@dataclass(frozen=True)
class Queued:
    """Messages waiting in the outbox for one user, and how many of their parts are settled."""

    id: int
    user_id: int
    payload: list[dict[str, Any]]
    first_part: int = 0
    lapsed_in_flight: bool = False  # its last sender died during a request: that part is unconfirmed


class SqlOutbox:
    """The outbox table: claims with leases (SKIP LOCKED), per-part progress, and the final mark."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], lease: timedelta = OUTBOX_LEASE) -> None:
        self.sessions = sessions
        self.lease = lease

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
        async with self.sessions.begin() as session:
            rows = (await session.scalars(query.with_for_update(skip_locked=True))).all()
            return [self._claim_row(row, now) for row in rows]

    def _claim_row(self, row: Outbox, now: datetime) -> Queued:
        lapsed = row.part_in_flight is not None
        if lapsed:
            log.warning("outbox=%s part=%s was in flight when its sender stopped", row.id, row.part_in_flight)
            row.parts_done, row.unconfirmed = row.part_in_flight + 1, row.unconfirmed + 1
            row.part_in_flight = None
        row.status, row.claimed_at = "sending", now
        return Queued(row.id, row.user_id, row.payload, row.parts_done, lapsed)

    async def sending(self, outbox_id: int, part: int) -> None:
        """Note that `part`'s request is about to go out: if we die now, its fate is unknown."""
        await self._set(outbox_id, part_in_flight=part)

    async def sent(self, outbox_id: int, part: int) -> None:
        """Telegram answered `part`: it is delivered."""
        await self._set(outbox_id, parts_done=part + 1, part_in_flight=None)

    async def unconfirmed(self, outbox_id: int, part: int) -> None:
        """`part` got no answer: it may have reached the user, so it is settled without a repeat."""
        await self._set(
            outbox_id, parts_done=part + 1, part_in_flight=None, unconfirmed=Outbox.unconfirmed + 1
        )

    async def _set(self, outbox_id: int, **values: Any) -> None:
        async with self.sessions.begin() as session:
            await session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))

    async def done(self, outbox_id: int, now: datetime, delivered: bool, give_up_after: int) -> None:
        """Mark a claimed row sent, or count a failed try and give it back (until `give_up_after`)."""
        async with self.sessions.begin() as session:
            row = await session.get(Outbox, outbox_id, with_for_update=True)
            if row is None:
                return
            row.claimed_at, row.part_in_flight = None, None
            if delivered:
                row.status, row.sent_at = "sent", now
                return
            row.attempts += 1
            row.status = "failed" if row.attempts >= give_up_after else "pending"


class RowProgress:
    """Progress of one outbox row's delivery, written through as it happens."""

    def __init__(self, outbox: SqlOutbox, outbox_id: int, first: int = 0) -> None:
        self.outbox = outbox
        self.outbox_id = outbox_id
        self.first = first
        self.unconfirmed_parts = 0

    async def sending(self, part: int) -> None:
        await self.outbox.sending(self.outbox_id, part)

    async def sent(self, part: int, last: bool) -> None:
        if not last:  # the last part is settled by `done`, in one write with the row's status
            await self.outbox.sent(self.outbox_id, part)

    async def unconfirmed(self, part: int) -> None:
        self.unconfirmed_parts += 1
        await self.outbox.unconfirmed(self.outbox_id, part)
