"""What the shell needs from storage, and nothing more: a unit of work per turn, the outbox, reports.

The coach opens a unit of work, loads the user's state under the user's lock, decides (flows.step),
renders once, then hands the outcome and the rendered replies over and commits. Storage decides
nothing: it keeps what it is given. The SQL implementation is bot/storage/sql.py; tests run the
same contract against an in-memory fake (tests/fake_storage.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from hipcoach.flows.values import Effect, State

Payload = list[dict[str, Any]]  # rendered messages, as JSON (flows.Message.to_json)
Ids = tuple[int, ...]  # Telegram message ids

# Telegram redelivers an update it holds unacknowledged for up to 24 hours: a deleted user's tombstone
# is kept twice as long, then pruned (bot/delivery/dispatcher.py).
REDELIVERY_WINDOW = timedelta(hours=48)


def tombstone_hash(key: bytes, user_id: int) -> str:
    """How a tombstone names a deleted user: HMAC-SHA256 of the Telegram id under the database's key."""
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A user's state, loaded under their lock; `known` is whether any state of theirs was stored.

    `deleted`: the user asked to be deleted before this update (a redelivery, or an update that waited
    for their lock while they were being deleted); the turn must change nothing.
    """

    user_id: int
    state: State
    known: bool
    deleted: bool = False


@dataclass(frozen=True)
class ClaimedPrompt:
    """A due prompt claimed for this unit of work, and its user's state loaded under their lock."""

    opened: Opened
    prompt_id: int
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class ClaimedPrompts:
    """What a claim of prompts got: the turns to take, and the prompts left pending for a later claim."""

    turns: list[ClaimedPrompt]
    waiting: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Queued:
    """Messages waiting in the outbox for one user, and how many of their parts are settled."""

    id: int
    user_id: int
    payload: Payload
    first_part: int = 0
    lapsed_in_flight: bool = False  # its last sender died during a request: that part is unconfirmed
    # The chat's live keyboards as the claim read them, after every earlier row of the user was settled
    # (bot/telegram/live_keyboards.py); None: not read, the sender reads them.
    live_keyboards: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ClaimedReply:
    """A turn's replies, queued and claimed at commit for the caller to send now.

    `ahead`: an earlier row of the user's was still to be sent (pending, or claimed by a live sender)
    when the turn wrote this one, so this one waits its turn. Else nothing is ahead of it, and
    `live_keyboards` are the chat's live keyboards as every earlier delivery left them.
    """

    id: int
    ahead: bool = True
    live_keyboards: tuple[int, ...] | None = None
    claimed_at: datetime | None = None  # the claim its commit wrote


class UnitOfWork(Protocol):
    """One transaction: a user's turn or a prompt's, kept together or not at all.

    Leaving the `async with` block without `commit` rolls everything back.
    """

    async def open_user(self, user_id: int, update_id: int | None = None) -> Opened:
        """Note the user (seen now, reachable again), lock them and load their state.

        For a Telegram update (`update_id`), a deleted user's tombstone is read under the lock: an
        update up to the last one handled before the deletion opens them `deleted`.
        """
        ...

    async def claim_prompts(self, prompt_ids: Sequence[int]) -> ClaimedPrompts:
        """Claim those of these prompts still pending, in one statement, and lock their users.

        A claimed prompt is marked skipped until `prompt_sent`. Left pending (`waiting`): a prompt whose
        user is busy in a turn, and a reachable user's later prompts (one turn a user per claim, so each
        turn sees the last one's state). An unreachable user's prompts are skipped, with no turn.
        """
        ...

    async def seen_update(self, update_id: int) -> bool:
        """Whether this Telegram update was handled before (read under the user's lock)."""
        ...

    async def record_update(self, user_id: int, update_id: int) -> None: ...

    async def apply(self, user_id: int, effects: Sequence[Effect]) -> None:
        """Keep what the outcome's effects record, schedule or cancel."""
        ...

    async def save(self, user_id: int, state: State) -> None: ...

    async def queue(self, user_id: int, payload: Payload, claimed: bool) -> ClaimedReply | None:
        """Put the replies in the outbox; `claimed`: for the caller to send now, and its row is returned
        (else the dispatcher sends them, and the row may be written only with the commit: None)."""
        ...

    async def prompt_sent(self, prompt_id: int) -> None:
        """The claimed prompt's turn had something to say."""
        ...

    async def release_prompt(self, prompt_id: int) -> None:
        """Give a claimed prompt back, pending, for the next round (its turn failed)."""
        ...

    async def forget(self, user_id: int, update_id: int | None = None) -> None:
        """Delete every row about the user.

        Deleted by a Telegram update (`update_id`), they leave a tombstone for REDELIVERY_WINDOW: a
        keyed hash of their id and the last update id handled before, nothing else.
        """
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Outbox(Protocol):
    """Committed replies: claimed with a lease kept by a heartbeat, settled part by part, marked sent or
    given back; a user's in the order queued (bot/storage/outbox.py)."""

    lease: timedelta

    async def claim(self, limit: int, now: datetime, user_id: int | None = None) -> list[Queued]: ...
    def hold(self, outbox_id: int, clock: Callable[[], datetime], claimed_at: datetime | None = None) -> None:
        """A row claimed for this process (at a turn's commit, at `claimed_at` if known): kept in its
        heartbeat until settled."""
        ...

    def let_go(self, outbox_id: int) -> None:
        """Out of the heartbeat unsettled (its delivery was cancelled): the claim lapses with the lease."""
        ...

    async def in_turn(self, outbox_id: int, user_id: int) -> bool:
        """Wait while an earlier row of the user is still being sent; False: given back meanwhile."""
        ...

    async def sending(self, outbox_id: int, part: int) -> None: ...
    async def unconfirmed(self, outbox_id: int, part: int) -> None: ...
    async def done(
        self, outbox_id: int, now: datetime, delivered: bool, give_up_after: int, keyboards: Ids | None = None
    ) -> None:
        """Settle a claimed row; `keyboards`: the chat's live keyboards after it, noted in the same write."""
        ...


class Storage(Protocol):
    """Everything the shell writes, and the reads it needs to run."""

    @property
    def outbox(self) -> Outbox: ...

    def unit_of_work(self, now: datetime) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction at `now`; rolled back unless committed."""
        ...

    async def due_prompts(self, now: datetime, limit: int, user_id: int | None = None) -> list[int]:
        """Ids of pending prompts due by `now` (of one user, if given), oldest first."""
        ...

    async def load_state(self, user_id: int) -> State: ...

    async def mark_inactive(self, user_id: int) -> None:
        """Note that the user cannot be reached (they blocked the bot) until they write again."""
        ...

    async def forget_inactive(self, cutoff: datetime) -> int:
        """Delete every user not seen since `cutoff` (the retention setting); returns how many."""
        ...

    async def forget_tombstones(self, cutoff: datetime) -> int:
        """Drop the tombstones of deletions before `cutoff`; returns how many."""
        ...

    async def prune_history(self, now: datetime, batch: int) -> dict[str, int]:
        """Delete at most `batch` rows of each kind of history past its lifetime (bot/storage/history.py),
        each batch its own short transaction; returns how many went, by table."""
        ...


class Reports(Protocol):
    """Read-only questions about what is stored."""

    async def rows_about(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every stored row about a user, table by table (export, progress chart, checking deletion)."""
        ...

    async def aggregate_stats(self, now: datetime) -> dict[str, Any]:
        """Counts across all users for admins: nothing about any one person."""
        ...
