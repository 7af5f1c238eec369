"""Tables: users, their dialogue state, screening answers, safety events and rung history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    literal,
    or_,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


def _user_fk() -> Any:
    return ForeignKey("users.id", ondelete="CASCADE")


def _partial(name: str, *columns: str, where: str) -> Index:
    """An index on the rows `where` holds only (the same predicate on SQLite and PostgreSQL)."""
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(index=True)  # the retention sweep
    consented_at: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Telegram message ids in the user's chat whose inline keyboards are still live (bot/live_keyboards.py)
    live_keyboards: Mapped[list[int] | None] = mapped_column(JSON)


class DialogueState(Base):
    __tablename__ = "dialogue_states"
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column()


class ScreeningAnswer(Base):
    __tablename__ = "screening_answers"
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), primary_key=True)
    question: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    answered_at: Mapped[datetime] = mapped_column()


class SafetyEvent(Base):
    """A red flag: its tier, the sign ids that raised it (none for a screening answer), its state."""

    __tablename__ = "safety_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    signs: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column()


class RungChange(Base):
    """Each placement on a ladder; the latest row is the user's current rung."""

    __tablename__ = "rung_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    ladder: Mapped[str] = mapped_column(String(64))
    exercise: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column()


class CheckIn(Base):
    """How a session felt, and (later) how the back was the next morning."""

    __tablename__ = "check_ins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    exercise: Mapped[str] = mapped_column(String(64))
    pain: Mapped[int] = mapped_column(Integer)
    effort: Mapped[str] = mapped_column(String(16))
    control: Mapped[str] = mapped_column(String(16))
    location: Mapped[str | None] = mapped_column(String(32))
    morning: Mapped[str | None] = mapped_column(String(16))
    checked_in_at: Mapped[datetime] = mapped_column()


class Decision(Base):
    """Each progress / hold / simplify decision, with the message key that explained it."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    exercise: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column()


class Prompt(Base):
    """A scheduled prompt; claimed by exactly one dispatcher when due."""

    __tablename__ = "prompts"
    # Due selection reads pending prompts only, the history sweep handled ones only: neither walks both.
    __table_args__ = (
        _partial("ix_prompts_pending_due_at", "due_at", where="status = 'pending'"),
        _partial("ix_prompts_handled_at", "handled_at", where="status <> 'pending'"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    handled_at: Mapped[datetime | None] = mapped_column()


# The outbox's unsent rows. A query reads them through the partial indexes below only if its WHERE says
# this very thing with the statuses written into the SQL: SQLite matches no bound parameter inside an
# IN list, and PostgreSQL's generic plan of a prepared statement knows no parameter's value.
UNSENT = "status IN ('pending', 'sending')"


def unsent(outbox: Any) -> ColumnElement[bool]:
    """UNSENT for a query on `outbox` (the table, or an alias of it), statuses written into the SQL."""
    return outbox.status.in_([literal(status, literal_execute=True) for status in ("pending", "sending")])


def to_be_sent(outbox: Any) -> ColumnElement[bool]:
    """UNSENT with its statuses as parameters: for a user's rows (their index), where the partial index's
    literal condition would only cost a rendering of the SQL at each run."""
    return or_(outbox.status == "pending", outbox.status == "sending")


def pending_prompts(prompts: Any) -> ColumnElement[bool]:
    """The pending prompts' partial index's condition, the status written into the SQL (as `unsent`)."""
    return prompts.status == literal("pending", literal_execute=True)


class Outbox(Base):
    """Messages committed with the turn that decided them, claimed by one sender, marked when sent.

    status: pending -> sending (claimed at `claimed_at`) -> sent, or back to pending, or failed.
    Parts (one Bot API call each) are settled in order: `parts_done` of them are sent or unconfirmed,
    `part_in_flight` is the one whose request may be under way (see bot/storage/outbox.py).
    """

    __tablename__ = "outbox"
    # Claims read unsent rows only (oldest first, and a user's earlier ones), the history sweep sent
    # ones only: neither walks both.
    __table_args__ = (
        _partial("ix_outbox_unsent", "id", where=UNSENT),
        _partial("ix_outbox_unsent_user", "user_id", "id", where=UNSENT),
        _partial("ix_outbox_sent_at", "sent_at", where="status = 'sent'"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    payload: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()
    parts_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    part_in_flight: Mapped[int | None] = mapped_column(Integer)
    unconfirmed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class GoalRating(Base):
    """How hard the user's chosen everyday activity is (0-10), rated at onboarding and every fortnight."""

    __tablename__ = "goal_ratings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    activity: Mapped[str] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(Integer)
    rated_at: Mapped[datetime] = mapped_column()


class ProcessedUpdate(Base):
    """A Telegram update already handled: a redelivery of it changes nothing."""

    __tablename__ = "processed_updates"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, _user_fk(), index=True)
    processed_at: Mapped[datetime] = mapped_column(index=True)  # pruned after the redelivery window


class SendSlot(Base):
    """Messages sent to Telegram in one second, by every replica together (bot/delivery/rate_limit.py)."""

    __tablename__ = "send_slots"
    second: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(Integer)


class AnimationFile(Base):
    """Telegram's file id for an animation already uploaded, by file name (which holds a content hash)."""

    __tablename__ = "animation_files"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column()


class Tombstone(Base):
    """A deleted user, recognised but not named, while Telegram may still redeliver their updates.

    `user_hash` is an HMAC-SHA256 of the Telegram id under the database's own random key (TombstoneKey):
    a plain hash of an id (ten digits or so) is undone by trying every id, and would name the same
    person in any other database that kept one.
    """

    __tablename__ = "tombstones"
    user_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_update_id: Mapped[int] = mapped_column(BigInteger)  # the last update handled before the deletion
    deleted_at: Mapped[datetime] = mapped_column(index=True)  # pruned after the redelivery window


class TombstoneKey(Base):
    """The database's one random HMAC key for tombstones, made by the migration that made them."""

    __tablename__ = "tombstone_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(64))


USER_TABLES = [
    DialogueState,
    ScreeningAnswer,
    SafetyEvent,
    RungChange,
    CheckIn,
    Decision,
    Prompt,
    Outbox,
    GoalRating,
    ProcessedUpdate,
]
