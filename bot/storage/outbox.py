"""The outbox: messages committed with the turn that decided them, sent part by part, none sent twice.

A row's messages go out as numbered parts (one Bot API call each). Right before a part's request
the row notes that part as in flight and every earlier one as settled; `done` settles the last. A
part whose answer never came (a read timeout, or the sender killed during the request) may or may
not have reached the user: it is counted unconfirmed and never sent again, and delivery carries on
with the next part. A sender killed after Telegram answered but before its next write leaves a
delivered part noted in flight: it is counted unconfirmed too, and not sent again.

Claims are short leases kept alive by a heartbeat, and the notes are written in groups
(bot/storage/claims.py).

A user's rows go out in the order their turns committed: a row is not sent while an earlier one of
the user's is unsent (pending, or `sending`). A row whose sender died holds the later ones up until a
dispatcher claims it again, once its lease lapsed, and sends it first: a later row passing it would
show the user an old question after a newer one, which they would answer twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.engine import Connection

from hipcoach.bot.storage.claims import HEARTBEAT, OUTBOX_LEASE, Batch, ClaimLost, Claims, Clock, Mark
from hipcoach.bot.storage.models import Outbox, User, to_be_sent, unsent
from hipcoach.bot.storage.port import Ids, Queued
from hipcoach.bot.storage.statements import EARLIER_UNSENT
from hipcoach.bot.storage.transactions import Transactions

__all__ = ["OUTBOX_LEASE", "ClaimLost", "Progress", "RowProgress", "SqlOutbox", "Untracked"]

log = logging.getLogger(__name__)

# Rows looked at per row claimed: a user's rows waiting behind one held elsewhere do not starve the rest.
CANDIDATES = 2


class Progress(Protocol):
    """Where one delivery stands; a sender reports each part before its request, and any left unanswered.

    A row's delivery also carries the chat's live keyboards: as read with the row's claim (`live_keyboards`,
    None if not), and as the delivery leaves them, noted with the row's settling mark (`keep_keyboards`
    True), so a delivery costs no reads or writes of its own for them.
    """

    first: int  # parts settled before this delivery began: start after them
    live_keyboards: tuple[int, ...] | None

    def keep_keyboards(self, message_ids: list[int]) -> bool:
        """Take the keyboards to note with the settling mark; False: the sender notes them itself."""
        ...

    async def sending(self, part: int) -> None: ...
    async def unconfirmed(self, part: int) -> None: ...


class Untracked:
    """Progress for messages that are not in the outbox (a note to the human coach): nothing is kept."""

    first = 0
    live_keyboards: tuple[int, ...] | None = None

    def keep_keyboards(self, message_ids: list[int]) -> bool:
        return False

    async def sending(self, part: int) -> None:
        pass

    async def unconfirmed(self, part: int) -> None:
        pass


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

    def hold(self, outbox_id: int, clock: Clock, claimed_at: datetime | None = None) -> None:
        self.claims.hold(outbox_id, clock, claimed_at)

    def let_go(self, outbox_id: int) -> None:
        self.claims.let_go(outbox_id)

    async def in_turn(self, outbox_id: int, user_id: int) -> bool:
        return await self.claims.in_turn(outbox_id, user_id)

    async def sending(self, outbox_id: int, part: int) -> None:
        """`part`'s request is about to go out and every part before it is settled."""
        await self.claims.mark(Mark(outbox_id, "sending", part))

    async def unconfirmed(self, outbox_id: int, part: int) -> None:
        """`part` got no answer: it may have reached the user, so it is settled without a repeat."""
        await self.claims.mark(Mark(outbox_id, "unconfirmed", part))

    async def done(
        self, outbox_id: int, now: datetime, delivered: bool, give_up_after: int, keyboards: Ids | None = None
    ) -> None:
        """Mark a claimed row sent, or count a failed try and give it back (until `give_up_after`); with
        `keyboards`, the chat's live keyboards as the delivery left them, in the same write."""
        self.claims.last_now = now
        kind = "sent" if delivered else "failed"
        await self.claims.mark(
            Mark(outbox_id, kind, at=now, give_up_after=give_up_after, keyboards=keyboards)
        )

    async def beat(self, now: datetime) -> None:
        await self.claims.beat(now)


_SETTLED = {"claimed_at": None, "part_in_flight": None}
_BY_ID = Outbox.id == bindparam("oid")
_EARLIER_UNSENT = EARLIER_UNSENT.limit(1)  # asked while a turn's reply waits its turn, so built once
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


_IDS = Outbox.id.in_(bindparam("ids", expanding=True))
_ADOPT_ANY = select(Outbox.id).where(_IDS, Outbox.status == "sending").with_for_update()
_ADOPT = _ADOPT_ANY.where(Outbox.claimed_at >= bindparam("live_since"))
_CLAIM = update(Outbox).where(_IDS).values(status="sending", claimed_at=bindparam("now"))
_KEYBOARDS = select(User.id, User.live_keyboards).where(User.id.in_(bindparam("ids", expanding=True)))
# A delivery's keyboards, noted with its row's settling mark: on the row's user.
_NOTE_KEYBOARDS = (
    update(User)
    .where(User.id == select(Outbox.user_id).where(_BY_ID).scalar_subquery())
    .values(live_keyboards=bindparam("keyboards"))
)
_REFRESH = update(Outbox).where(_IDS, Outbox.status == "sending").values(claimed_at=bindparam("beat"))


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
        ids = {"ids": sorted(batch.adopt), "live_since": batch.live_since}
        adopting = _ADOPT if batch.live_since is not None else _ADOPT_ANY
        adopted = set(connection.scalars(adopting, ids))
    refreshed = batch.refresh | adopted
    if refreshed and batch.beat is not None:
        connection.execute(_REFRESH, {"ids": sorted(refreshed), "beat": batch.beat})
    ours = batch.held | adopted
    notes = [_keyboards(m) for m in batch.marks if m.keyboards is not None and m.outbox_id in ours]
    if notes:  # before the marks: a row seen settled has its keyboards noted
        connection.execute(_NOTE_KEYBOARDS, notes)
    for kind, statement in _MARKS.items():
        rows = [_parameters(m) for m in batch.marks if m.kind == kind and m.outbox_id in ours]
        if rows:
            connection.execute(statement, rows)
    return adopted


def _keyboards(mark: Mark) -> dict[str, Any]:
    return {"oid": mark.outbox_id, "keyboards": list(mark.keyboards or ()) or None}


def in_order(candidates: Sequence[Any], unsent: list[tuple[int, int]]) -> list[Any]:
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
        .limit(CANDIDATES * limit)
        .with_for_update(skip_locked=True)
    )
    if user_id is not None:
        query = query.where(Outbox.user_id == user_id)
    candidates = connection.execute(query).all()
    if not candidates:
        return []
    # Rows of the same users still to be sent: by someone else, or claimed by a sender that died (then
    # they go first, as candidates here or in a later claim), or locked by another claim just now.
    ahead = select(Outbox.user_id, Outbox.id).where(
        Outbox.user_id.in_(sorted({row.user_id for row in candidates})),
        Outbox.id < max(row.id for row in candidates),
        to_be_sent(Outbox),
    )
    rows = in_order(candidates, [(u, i) for u, i in connection.execute(ahead)])[:limit]
    lapsed = [row for row in rows if row.part_in_flight is not None]
    for row in lapsed:
        log.warning("outbox=%s part=%s was in flight when its sender stopped", row.id, row.part_in_flight)
    if lapsed:
        parameters = [{"oid": r.id, "next": r.part_in_flight + 1} for r in lapsed]
        connection.execute(_MARKS["unconfirmed"], parameters)
    if not rows:
        return []
    connection.execute(_CLAIM, {"ids": [row.id for row in rows], "now": now})
    # Read after the order check: every earlier row of these users is settled, its keyboards noted.
    users = {row.user_id for row in rows}
    keyboards = dict(connection.execute(_KEYBOARDS, {"ids": sorted(users)}).all())
    return [
        Queued(
            row.id,
            row.user_id,
            row.payload,
            row.parts_done if row.part_in_flight is None else row.part_in_flight + 1,
            row.part_in_flight is not None,
            tuple(keyboards.get(row.user_id) or ()),
        )
        for row in rows
    ]


class SqlBook:
    """The outbox table as the claims write it: one transaction a batch (bot/storage/transactions.py)."""

    def __init__(self, transactions: Transactions) -> None:
        self.transactions = transactions

    async def write(self, batch: Batch) -> set[int]:
        # Each statement of a batch that adopts nothing is atomic by itself (a keyboards note comes
        # before its row's settling mark): on PostgreSQL they need no transaction around them.
        run = self.transactions.write if batch.adopt else self.transactions.single
        return await run(partial(_write_batch, batch))

    async def earlier_unsent(self, outbox_id: int, user_id: int) -> bool:
        row = {"user_id": user_id, "oid": outbox_id}
        found = await self.transactions.single(lambda connection: connection.scalar(_EARLIER_UNSENT, row))
        return found is not None


class SqlOutbox(LeasedOutbox):
    """The outbox table: claims with leases (SKIP LOCKED) kept by a heartbeat, grouped bookkeeping."""

    def __init__(
        self,
        transactions: Transactions,
        lease: timedelta = OUTBOX_LEASE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.transactions = transactions
        super().__init__(Claims(SqlBook(transactions), lease, sleep, heartbeat))

    async def _claim(self, limit: int, now: datetime, user_id: int | None) -> list[Queued]:
        return await self.transactions.write(partial(_claim_rows, limit, now, self.lease, user_id))


class RowProgress:
    """Progress of one outbox row's delivery, written through (grouped) as it happens."""

    def __init__(
        self, outbox: Any, outbox_id: int, first: int = 0, live_keyboards: tuple[int, ...] | None = None
    ) -> None:
        self.outbox = outbox
        self.outbox_id = outbox_id
        self.first = first
        self.unconfirmed_parts = 0
        self.live_keyboards = live_keyboards
        self.keyboards: tuple[int, ...] | None = None  # to note with the settling mark

    def keep_keyboards(self, message_ids: list[int]) -> bool:
        self.keyboards = tuple(message_ids)
        return True

    async def sending(self, part: int) -> None:
        await self.outbox.sending(self.outbox_id, part)

    async def unconfirmed(self, part: int) -> None:
        self.unconfirmed_parts += 1
        await self.outbox.unconfirmed(self.outbox_id, part)
