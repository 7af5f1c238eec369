"""The storage port on SQLAlchemy 2 (async): SQLite by default, PostgreSQL for many replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hipcoach.bot.storage.db import READ_ONLY, WriteGate
from hipcoach.bot.storage.history import SqlHistory
from hipcoach.bot.storage.models import (
    USER_TABLES,
    CheckIn,
    Decision,
    DialogueState,
    GoalRating,
    Outbox,
    ProcessedUpdate,
    Prompt,
    RungChange,
    SafetyEvent,
    ScreeningAnswer,
    Tombstone,
    TombstoneKey,
    User,
)
from hipcoach.bot.storage.outbox import OUTBOX_LEASE, SqlOutbox
from hipcoach.bot.storage.port import ClaimedPrompt, Opened, Payload, tombstone_hash
from hipcoach.bot.storage.transactions import Transactions
from hipcoach.flows.values import (
    CancelPrompts,
    ClearScreening,
    Effect,
    ForgetUser,
    NotifyCoach,
    RecordAnswer,
    RecordCheckIn,
    RecordConsent,
    RecordDecision,
    RecordGoal,
    RecordMorning,
    RecordRedFlag,
    SchedulePrompt,
    SetPosition,
    State,
)


class SqlStorage:
    """The storage port on one engine; one write transaction of this process at a time on SQLite."""

    def __init__(self, engine: AsyncEngine, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.writing = WriteGate(engine)
        self.transactions = Transactions(engine, self.writing)
        self.outbox = SqlOutbox(self.sessions, self.writing, outbox_lease)
        self.hashing = TombstoneHashing()

    @asynccontextmanager
    async def unit_of_work(self, now: datetime) -> AsyncIterator[SqlUnitOfWork]:
        async with self.writing(), self.sessions() as session:
            yield SqlUnitOfWork(session, now, self.engine.dialect.name, self.hashing)
            # Leaving the session rolls back whatever was not committed.

    async def due_prompts(self, now: datetime, limit: int, user_id: int | None = None) -> list[int]:
        async with reading(self.sessions) as session:
            query = (
                select(Prompt.id)
                .where(Prompt.status == "pending", Prompt.due_at <= now)
                .order_by(Prompt.due_at)
                .limit(limit)
            )
            if user_id is not None:
                query = query.where(Prompt.user_id == user_id)
            return list((await session.scalars(query)).all())

    async def load_state(self, user_id: int) -> State:
        async with reading(self.sessions) as session:
            return _state_of(await session.get(DialogueState, user_id))

    async def mark_inactive(self, user_id: int) -> None:
        async with self.writing(), self.sessions.begin() as session:
            await session.execute(update(User).where(User.id == user_id).values(active=False))

    async def forget_inactive(self, cutoff: datetime) -> int:
        async with self.writing(), self.sessions.begin() as session:
            ids = (await session.scalars(select(User.id).where(User.last_seen_at < cutoff))).all()
            for user_id in ids:
                await _forget(session, user_id)
        return len(ids)

    async def forget_tombstones(self, cutoff: datetime) -> int:
        async with self.writing(), self.sessions.begin() as session:
            expired = await session.execute(delete(Tombstone).where(Tombstone.deleted_at < cutoff))
        return int(getattr(expired, "rowcount", 0) or 0)

    async def prune_history(self, now: datetime, batch: int) -> dict[str, int]:
        return await SqlHistory(self.transactions).prune(now, batch)


class TombstoneHashing:
    """Names deleted users as tombstones do, with the database's key (read once, never changed)."""

    def __init__(self) -> None:
        self.key: bytes | None = None

    async def __call__(self, session: AsyncSession, user_id: int) -> str:
        if self.key is None:
            stored = await session.scalar(select(TombstoneKey.key).where(TombstoneKey.id == 1))
            if stored is None:
                raise RuntimeError("no tombstone key: the database needs its migrations")
            self.key = bytes.fromhex(stored)
        return tombstone_hash(self.key, user_id)


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that only reads: on SQLite it begins deferred, taking no write lock."""
    async with sessions() as session:
        await session.connection(execution_options={READ_ONLY: True})
        yield session


def _state_of(row: DialogueState | None) -> State:
    return State.from_json({"name": row.name, "data": row.data} if row else None)


class SqlUnitOfWork:
    """One transaction on one session; see bot/storage/port.py for what each step means."""

    def __init__(self, session: AsyncSession, now: datetime, dialect: str, hashing: TombstoneHashing) -> None:
        self.session = session
        self.now = now
        self.dialect = postgresql if dialect == "postgresql" else sqlite
        self.hashing = hashing

    async def open_user(self, user_id: int, update_id: int | None = None) -> Opened:
        values = {"id": user_id, "created_at": self.now, "last_seen_at": self.now, "active": True}
        await self.session.execute(self.dialect.insert(User).values(values).on_conflict_do_nothing())
        user = await self.session.scalar(select(User).where(User.id == user_id).with_for_update())
        # None: deleted by a turn that held their lock while this one waited (PostgreSQL).
        if user is None or (update_id is not None and await self._buried(user_id, update_id)):
            return Opened(user_id, State(), known=False, deleted=True)
        user.last_seen_at = self.now
        user.active = True
        row = await self.session.get(DialogueState, user_id)
        return Opened(user_id, _state_of(row), row is not None)

    async def claim_prompt(self, prompt_id: int) -> ClaimedPrompt | None:
        claim = select(Prompt).where(Prompt.id == prompt_id, Prompt.status == "pending")
        prompt = await self.session.scalar(claim.with_for_update(skip_locked=True))
        if prompt is None:
            return None
        # A user's turn locks the user, then their prompts: waiting here for the user would
        # deadlock with it, so a busy user's prompt is given back instead.
        lock_user = select(User).where(User.id == prompt.user_id).with_for_update(skip_locked=True)
        user = await self.session.scalar(lock_user)
        if user is None:
            return None  # nothing changed: rolled back, the prompt stays pending
        prompt.handled_at = self.now
        prompt.status = "skipped"
        if not user.active:
            return None
        await self.session.flush()  # claimed before the turn may plan this kind of prompt anew
        row = await self.session.get(DialogueState, user.id)
        opened = Opened(user.id, _state_of(row), row is not None)
        return ClaimedPrompt(opened, prompt.id, prompt.kind, prompt.due_at)

    async def seen_update(self, update_id: int) -> bool:
        # Read under the user's lock: a copy of this update handled by another replica is committed.
        return await self.session.get(ProcessedUpdate, update_id) is not None

    async def record_update(self, user_id: int, update_id: int) -> None:
        self.session.add(ProcessedUpdate(update_id=update_id, user_id=user_id, processed_at=self.now))

    async def apply(self, user_id: int, effects: Sequence[Effect]) -> None:
        for effect in effects:
            await self._apply(user_id, effect)

    async def save(self, user_id: int, state: State) -> None:
        row = await self.session.get(DialogueState, user_id)
        if row is None:
            self.session.add(
                DialogueState(user_id=user_id, name=state.name, data=dict(state.data), updated_at=self.now)
            )
        else:
            row.name, row.data, row.updated_at = state.name, dict(state.data), self.now

    async def queue(self, user_id: int, payload: Payload, claimed: bool) -> int:
        row = Outbox(user_id=user_id, payload=payload, created_at=self.now, status="pending")
        if claimed:
            row.status, row.claimed_at = "sending", self.now
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def prompt_sent(self, prompt_id: int) -> None:
        await self.session.execute(update(Prompt).where(Prompt.id == prompt_id).values(status="sent"))

    async def forget(self, user_id: int, update_id: int | None = None) -> None:
        if update_id is not None:
            await self._bury(user_id, update_id)
        await _forget(self.session, user_id)

    async def _buried(self, user_id: int, update_id: int) -> bool:
        """Whether a tombstone says this update came before the user's deletion."""
        tombstone = await self.session.get(Tombstone, await self.hashing(self.session, user_id))
        return tombstone is not None and update_id <= tombstone.last_update_id

    async def _bury(self, user_id: int, update_id: int) -> None:
        handled = select(func.max(ProcessedUpdate.update_id)).where(ProcessedUpdate.user_id == user_id)
        last = max(update_id, await self.session.scalar(handled) or 0)
        user_hash = await self.hashing(self.session, user_id)
        tombstone = await self.session.get(Tombstone, user_hash)
        if tombstone is None:
            self.session.add(Tombstone(user_hash=user_hash, last_update_id=last, deleted_at=self.now))
        else:  # deleted before, and back since with newer updates
            tombstone.last_update_id = max(last, tombstone.last_update_id)
            tombstone.deleted_at = self.now

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def _apply(self, user_id: int, effect: Effect) -> None:
        session, now = self.session, self.now
        match effect:
            case RecordConsent(given=given):
                user = await session.get(User, user_id)
                assert user is not None
                user.consented_at = now if given else None
            case RecordAnswer(question=question, value=value):
                await session.merge(
                    ScreeningAnswer(user_id=user_id, question=question, value=value, answered_at=now)
                )
            case RecordRedFlag(tier=tier, signs=signs, state=where):
                session.add(
                    SafetyEvent(user_id=user_id, tier=tier, signs=list(signs), state=where, raised_at=now)
                )
            case SetPosition(ladder=ladder, exercise=exercise, reason=reason):
                session.add(
                    RungChange(
                        user_id=user_id, ladder=ladder, exercise=exercise, reason=reason, changed_at=now
                    )
                )
            case ClearScreening():
                await session.execute(delete(ScreeningAnswer).where(ScreeningAnswer.user_id == user_id))
            case RecordCheckIn():
                session.add(CheckIn(user_id=user_id, checked_in_at=now, morning=None, **vars(effect)))
            case RecordMorning(answer=answer, since=since):
                unanswered = (
                    CheckIn.user_id == user_id,
                    CheckIn.morning.is_(None),
                    CheckIn.checked_in_at >= since,
                )
                await session.execute(update(CheckIn).where(*unanswered).values(morning=answer))
            case RecordDecision(kind=kind, exercise=exercise, reason=reason):
                session.add(
                    Decision(user_id=user_id, kind=kind, exercise=exercise, reason=reason, decided_at=now)
                )
            case SchedulePrompt(kind=kind, due_at=due_at):
                await self._cancel(user_id, (kind,))
                session.add(Prompt(user_id=user_id, kind=kind, due_at=due_at, status="pending"))
            case CancelPrompts(kinds=kinds):
                await self._cancel(user_id, kinds)
            case RecordGoal(activity=activity, score=score):
                session.add(GoalRating(user_id=user_id, activity=activity, score=score, rated_at=now))
            case NotifyCoach() | ForgetUser():
                pass  # the coach notifies after the commit; forgetting is the coach's call to `forget`
            case _:
                raise TypeError(f"unknown effect {type(effect).__name__}")

    async def _cancel(self, user_id: int, kinds: tuple[str, ...]) -> None:
        query = delete(Prompt).where(Prompt.user_id == user_id, Prompt.status == "pending")
        if kinds:
            query = query.where(Prompt.kind.in_(kinds))
        await self.session.execute(query)


async def _forget(session: AsyncSession, user_id: int) -> None:
    for table in USER_TABLES:
        await session.execute(delete(table).where(table.__table__.c.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))


class SqlReports:
    """The reporting port: read-only queries, each in a snapshot that takes no write lock."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def aggregate_stats(self, now: datetime) -> dict[str, Any]:
        week = now - timedelta(days=7)
        async with reading(self.sessions) as session:
            users = await session.scalar(select(func.count()).select_from(User))
            active = await session.scalar(select(func.count()).where(User.last_seen_at >= week))
            sessions = await session.scalar(select(func.count()).where(CheckIn.checked_in_at >= week))
            flags = await session.scalar(select(func.count()).select_from(SafetyEvent))
            latest = (
                select(RungChange.user_id, func.max(RungChange.id).label("id"))
                .group_by(RungChange.user_id)
                .subquery()
            )
            stops = await session.execute(
                select(RungChange.exercise, func.count())
                .join(latest, RungChange.id == latest.c.id)
                .group_by(RungChange.exercise)
                .order_by(func.count().desc(), RungChange.exercise)
            )
        return {
            "users": users or 0,
            "active_week": active or 0,
            "sessions_week": sessions or 0,
            "red_flags": flags or 0,
            "ladder_stops": [(exercise, count) for exercise, count in stops.all()],
        }

    async def rows_about(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = {}
        async with reading(self.sessions) as session:
            for table in [User, *USER_TABLES]:
                column = User.id if table is User else table.__table__.c.user_id
                rows = (
                    await session.scalars(
                        select(table).where(column == user_id).order_by(*table.__table__.primary_key)
                    )
                ).all()
                result[table.__tablename__] = [
                    {c.key: getattr(r, c.key) for c in table.__table__.columns} for r in rows
                ]
        return result
