"""Storage port and its SQLAlchemy implementation: one user's turn is one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hipcoach.bot.storage.db import READ_ONLY, WriteGate
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
    User,
)
from hipcoach.bot.storage.outbox import OUTBOX_LEASE, SqlOutbox
from hipcoach.flows.values import (
    CancelPrompts,
    ClearScreening,
    Effect,
    ForgetUser,
    NotifyCoach,
    Outcome,
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

Decide = Callable[[State], Outcome]
PromptDecide = Callable[[str, datetime], Decide]


Render = Callable[[Outcome], list[dict[str, Any]]]


class _UserBusy(Exception):
    """The user's row is locked by a turn in progress."""


@dataclass(frozen=True)
class Handled:
    """An update's turn, committed; `outbox_id` names its queued replies, claimed for the caller."""

    outcome: Outcome
    outbox_id: int | None


@dataclass(frozen=True)
class Delivery:
    """A prompt's turn, committed: what to send to whom."""

    user_id: int
    outcome: Outcome


class Storage(Protocol):
    outbox: SqlOutbox

    async def transact(self, user_id: int, now: datetime, decide: Decide) -> Outcome:
        """Load the user's state, decide, and commit the outcome's state and effects atomically."""
        ...

    async def load_state(self, user_id: int) -> State: ...

    async def mark_inactive(self, user_id: int) -> None:
        """Note that the user cannot be reached (they blocked the bot) until they write again."""
        ...


class SqlStorage:
    """Storage on SQLAlchemy 2 (async): SQLite by default, PostgreSQL for many replicas."""

    def __init__(self, engine: AsyncEngine, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.writing = WriteGate(engine)
        self.outbox = SqlOutbox(self.sessions, self.writing, outbox_lease)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: on SQLite it begins deferred, taking no write lock."""
        async with self.sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    async def transact(self, user_id: int, now: datetime, decide: Decide) -> Outcome:
        async with self.writing(), self.sessions.begin() as session:
            await self._ensure_user(session, user_id, now)
            user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
            assert user is not None
            user.last_seen_at = now
            user.active = True
            outcome, _ = await self._turn(session, user, now, decide)
            return outcome

    async def transact_update(
        self, user_id: int, update_id: int, now: datetime, decide: Decide, render: Render
    ) -> Handled | None:
        """`transact` for a Telegram update, once only, with the replies queued in the same commit.

        None when this update was handled before (a redelivery). The replies' outbox row is
        claimed by the caller, who sends them at once; if it dies first, the claim lapses and the
        dispatcher sends them.
        """
        async with self.writing(), self.sessions.begin() as session:
            await self._ensure_user(session, user_id, now)
            user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
            assert user is not None
            # Read under the user's lock: a copy of this update handled by another replica is committed.
            if await session.get(ProcessedUpdate, update_id) is not None:
                return None
            user.last_seen_at = now
            user.active = True
            outcome, kept = await self._turn(session, user, now, decide)
            if not kept:
                return Handled(outcome, None)  # the user was forgotten: nothing of theirs is kept
            session.add(ProcessedUpdate(update_id=update_id, user_id=user_id, processed_at=now))
            if not outcome.replies:
                return Handled(outcome, None)
            queued = Outbox(user_id=user_id, payload=render(outcome), created_at=now, status="sending")
            queued.claimed_at = now
            session.add(queued)
            await session.flush()
            return Handled(outcome, queued.id)

    async def due_prompts(self, now: datetime, limit: int, user_id: int | None = None) -> list[int]:
        """Ids of pending prompts due by `now` (of one user, if given), oldest first."""
        async with self._reading() as session:
            query = (
                select(Prompt.id)
                .where(Prompt.status == "pending", Prompt.due_at <= now)
                .order_by(Prompt.due_at)
                .limit(limit)
            )
            if user_id is not None:
                query = query.where(Prompt.user_id == user_id)
            return list((await session.scalars(query)).all())

    async def transact_prompt(
        self, prompt_id: int, now: datetime, decide: PromptDecide, render: Render
    ) -> Delivery | None:
        """Claim a due prompt, run its turn and queue its messages, in one transaction.

        None if it was not ours to send (already handled, or the user cannot be reached) or its user
        is busy in a turn (then it stays pending).
        """
        try:
            return await self._claim_prompt(prompt_id, now, decide, render)
        except _UserBusy:
            return None  # the prompt stays pending for the next round

    async def _claim_prompt(
        self, prompt_id: int, now: datetime, decide: PromptDecide, render: Render
    ) -> Delivery | None:
        async with self.writing(), self.sessions.begin() as session:
            claim = select(Prompt).where(Prompt.id == prompt_id, Prompt.status == "pending")
            prompt = await session.scalar(claim.with_for_update(skip_locked=True))
            if prompt is None:
                return None
            # A user's turn locks the user, then their prompts: waiting here for the user would
            # deadlock with it, so a busy user's prompt is given back instead.
            lock_user = select(User).where(User.id == prompt.user_id).with_for_update(skip_locked=True)
            user = await session.scalar(lock_user)
            if user is None:
                raise _UserBusy
            prompt.handled_at = now
            prompt.status = "skipped"
            if not user.active:
                return None
            await session.flush()  # claimed before the turn may plan this kind of prompt anew
            outcome, _ = await self._turn(session, user, now, decide(prompt.kind, prompt.due_at))
            if outcome.replies:
                prompt.status = "sent"
            if outcome.replies:
                session.add(
                    Outbox(user_id=user.id, payload=render(outcome), created_at=now, status="pending")
                )
            return Delivery(user.id, outcome)

    async def _turn(
        self, session: AsyncSession, user: User, now: datetime, decide: Decide
    ) -> tuple[Outcome, bool]:
        """Decide and write the outcome; also whether the user is still kept (False: forgotten)."""
        row = await session.get(DialogueState, user.id)
        state = State.from_json({"name": row.name, "data": row.data} if row else None)
        outcome = decide(state)
        nothing_to_keep = row is None and outcome.state == State() and not outcome.effects
        if nothing_to_keep or any(isinstance(effect, ForgetUser) for effect in outcome.effects):
            await self._forget(session, user.id)  # nobody we know: keep no trace of them
            return outcome, False
        for effect in outcome.effects:
            await self._apply(session, user, effect, now)
        await self._save_state(session, user.id, outcome.state, now)
        return outcome, True

    async def load_state(self, user_id: int) -> State:
        async with self._reading() as session:
            row = await session.get(DialogueState, user_id)
            return State.from_json({"name": row.name, "data": row.data} if row else None)

    async def mark_inactive(self, user_id: int) -> None:
        async with self.writing(), self.sessions.begin() as session:
            await session.execute(update(User).where(User.id == user_id).values(active=False))

    async def _ensure_user(self, session: AsyncSession, user_id: int, now: datetime) -> None:
        values = {"id": user_id, "created_at": now, "last_seen_at": now, "active": True}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        await session.execute(dialect.insert(User).values(values).on_conflict_do_nothing())

    async def _save_state(self, session: AsyncSession, user_id: int, state: State, now: datetime) -> None:
        row = await session.get(DialogueState, user_id)
        if row is None:
            session.add(
                DialogueState(user_id=user_id, name=state.name, data=dict(state.data), updated_at=now)
            )
        else:
            row.name, row.data, row.updated_at = state.name, dict(state.data), now

    async def _apply(self, session: AsyncSession, user: User, effect: Effect, now: datetime) -> None:
        match effect:
            case RecordConsent(given=given):
                user.consented_at = now if given else None
            case RecordAnswer(question=question, value=value):
                await session.merge(
                    ScreeningAnswer(user_id=user.id, question=question, value=value, answered_at=now)
                )
            case RecordRedFlag(tier=tier, signs=signs, state=where):
                session.add(
                    SafetyEvent(user_id=user.id, tier=tier, signs=list(signs), state=where, raised_at=now)
                )
            case SetPosition(ladder=ladder, exercise=exercise, reason=reason):
                session.add(
                    RungChange(
                        user_id=user.id,
                        ladder=ladder,
                        exercise=exercise,
                        reason=reason,
                        changed_at=now,
                    )
                )
            case ClearScreening():
                await session.execute(delete(ScreeningAnswer).where(ScreeningAnswer.user_id == user.id))
            case RecordCheckIn():
                session.add(CheckIn(user_id=user.id, checked_in_at=now, morning=None, **vars(effect)))
            case RecordMorning(answer=answer, since=since):
                unanswered = (
                    CheckIn.user_id == user.id,
                    CheckIn.morning.is_(None),
                    CheckIn.checked_in_at >= since,
                )
                await session.execute(update(CheckIn).where(*unanswered).values(morning=answer))
            case RecordDecision(kind=kind, exercise=exercise, reason=reason):
                session.add(
                    Decision(user_id=user.id, kind=kind, exercise=exercise, reason=reason, decided_at=now)
                )
            case SchedulePrompt(kind=kind, due_at=due_at):
                await self._cancel(session, user.id, (kind,))
                session.add(Prompt(user_id=user.id, kind=kind, due_at=due_at, status="pending"))
            case CancelPrompts(kinds=kinds):
                await self._cancel(session, user.id, kinds)
            case RecordGoal(activity=activity, score=score):
                session.add(GoalRating(user_id=user.id, activity=activity, score=score, rated_at=now))
            case NotifyCoach():
                pass  # sent by the coach service after commit, with the user's consent of this turn
            case _:
                raise TypeError(f"unknown effect {type(effect).__name__}")

    async def _cancel(self, session: AsyncSession, user_id: int, kinds: tuple[str, ...]) -> None:
        query = delete(Prompt).where(Prompt.user_id == user_id, Prompt.status == "pending")
        if kinds:
            query = query.where(Prompt.kind.in_(kinds))
        await session.execute(query)

    async def _forget(self, session: AsyncSession, user_id: int) -> None:
        for table in USER_TABLES:
            await session.execute(delete(table).where(table.user_id == user_id))
        await session.execute(delete(User).where(User.id == user_id))

    async def aggregate_stats(self, now: datetime) -> dict[str, Any]:
        """Counts across all users for admins: nothing about any one person."""
        week = now - timedelta(days=7)
        async with self._reading() as session:
            users = await session.scalar(select(func.count()).select_from(User))
            active = await session.scalar(select(func.count()).where(User.last_seen_at >= week))
            sessions = await session.scalar(select(func.count()).where(CheckIn.checked_in_at >= week))
            flags = await session.scalar(select(func.count()).select_from(SafetyEvent))
            latest = select(RungChange.user_id, func.max(RungChange.id).label("id")).group_by(
                RungChange.user_id
            )
            latest = latest.subquery()
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

    async def forget_inactive(self, cutoff: datetime) -> int:
        """Delete every user not seen since `cutoff` (the retention setting); returns how many."""
        async with self.writing(), self.sessions.begin() as session:
            ids = (await session.scalars(select(User.id).where(User.last_seen_at < cutoff))).all()
            for user_id in ids:
                await self._forget(session, user_id)
        return len(ids)

    async def rows_about(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every stored row about a user, table by table (for export and for checking deletion)."""
        result: dict[str, list[dict[str, Any]]] = {}
        async with self._reading() as session:
            for table in [User, *USER_TABLES]:
                column = table.id if table is User else table.user_id
                rows = (await session.scalars(select(table).where(column == user_id))).all()
                result[table.__tablename__] = [
                    {c.key: getattr(r, c.key) for c in table.__table__.columns} for r in rows
                ]
        return result
