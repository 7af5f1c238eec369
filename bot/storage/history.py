"""History with a lifetime: what only bookkeeping still reads is deleted once it has served, in small batches.

Three tables keep a row for every thing that ever happened, and nothing about a user's coaching reads
them once it has happened:
- processed_updates: an update id is needed while Telegram may redeliver it (REDELIVERY_WINDOW);
- outbox rows marked sent: a copy of messages the user already has in their chat, kept SENT_LIFETIME
  for an operator looking into a message reported missing or doubled;
- prompts sent or skipped: when a prompt fell due and whether it went out, kept HANDLED_LIFETIME.
What a user's coaching is made of (check-ins, decisions, rungs, goal ratings, screening answers, red
flags) is not history here: it is kept until the user is deleted or the retention setting forgets them.
Failed outbox rows are kept too (a message never delivered is worth looking into, and they are few).

Each batch is its own short write transaction (bot/storage/transactions.py), so a turn waits at
most one batch behind the sweep; partial indexes (migration 0014) find the old rows without reading
the rest. The limit goes in a subquery: neither SQLite (as built by most distributions) nor PostgreSQL
has DELETE ... LIMIT. On PostgreSQL the batch skips rows another replica's sweep is deleting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, literal, select
from sqlalchemy.orm import InstrumentedAttribute

from hipcoach.bot.storage.models import Outbox, ProcessedUpdate, Prompt
from hipcoach.bot.storage.port import REDELIVERY_WINDOW
from hipcoach.bot.storage.transactions import Step, Transactions

# A week of sent messages covers a report of a missing or doubled one made after a weekend; the
# payloads are the bulk of the table, and copies of what the user's chat already shows.
SENT_LIFETIME = timedelta(days=7)
# Handled prompts are small (a kind, two times, a status): a month covers two fortnightly goal
# re-ratings and any "why did I get no reminder" a user or operator asks about.
HANDLED_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class Lifetimes:
    """How long each kind of history is kept after it happened."""

    processed_updates: timedelta = REDELIVERY_WINDOW
    sent_outbox: timedelta = SENT_LIFETIME
    handled_prompts: timedelta = HANDLED_LIFETIME


def _as_literal(value: str) -> ColumnElement[str]:
    """A status written into the SQL: a partial index's predicate is matched against constants only."""
    return literal(value, literal_execute=True)


class SqlHistory:
    """Deletes history older than its lifetime, a batch a transaction."""

    def __init__(self, transactions: Transactions, lifetimes: Lifetimes = Lifetimes()) -> None:
        self.transactions = transactions
        self.lifetimes = lifetimes

    async def prune(self, now: datetime, batch: int) -> dict[str, int]:
        """Delete at most `batch` rows of each kind of history; how many went, by table."""
        lives = self.lifetimes
        sent = Outbox.status == _as_literal("sent")
        handled = Prompt.status != _as_literal("pending")
        batches = {
            "processed_updates": _oldest(
                ProcessedUpdate.update_id, ProcessedUpdate.processed_at, now - lives.processed_updates, batch
            ),
            "outbox": _oldest(Outbox.id, Outbox.sent_at, now - lives.sent_outbox, batch, sent),
            "prompts": _oldest(Prompt.id, Prompt.handled_at, now - lives.handled_prompts, batch, handled),
        }
        return {table: await self.transactions.write(step) for table, step in batches.items()}


def _oldest(
    key: InstrumentedAttribute[int],
    when: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
    cutoff: datetime,
    batch: int,
    *where: ColumnElement[bool],
) -> Step[int]:
    """One batch's delete: at most `batch` rows matching `where` from before `cutoff`, oldest first."""
    oldest = select(key).where(*where, when < cutoff).order_by(when).limit(batch)
    chosen = oldest.with_for_update(skip_locked=True)  # PostgreSQL: not the rows another sweep holds
    statement = delete(key.class_).where(key.in_(chosen))
    return lambda connection: connection.execute(statement).rowcount
