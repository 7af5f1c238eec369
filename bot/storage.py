"""Storage port and its SQLAlchemy implementation: one user's turn is one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.models import (
    USER_TABLES,
    CheckIn,
    Decision,
    DialogueState,
    Outbox,
    Prompt,
    RedFlag,
    RungChange,
    ScreeningAnswer,
    User,
)
from flows.values import (
    CancelPrompts,
    ClearScreening,
    Effect,
    ForgetUser,
    Outcome,
    RecordAnswer,
    RecordCheckIn,
    RecordConsent,
    RecordDecision,
    RecordMorning,
    RecordRedFlag,
    SchedulePrompt,
    SetPosition,
    State,
)

Decide = Callable[[State], Outcome]
PromptDecide = Callable[[str, datetime], Decide]


Render = Callable[[Outcome], list[dict[str, Any]]]


@dataclass(frozen=True)
class Queued:
    """Messages waiting in the outbox for one user."""

    id: int
    user_id: int
    payload: list[dict[str, Any]]


@dataclass(frozen=True)
class Delivery:
    """A prompt's turn, committed: what to send to whom."""

    user_id: int
    outcome: Outcome


class Storage(Protocol):
    async def transact(self, user_id: int, now: datetime, decide: Decide) -> Outcome:
        """Load the user's state, decide, and commit the outcome's state and effects atomically."""
        ...

    async def load_state(self, user_id: int) -> State: ...

    async def mark_inactive(self, user_id: int) -> None:
        """Note that the user cannot be reached (they blocked the bot) until they write again."""
        ...


class SqlStorage:
    """Storage on SQLAlchemy 2 (async): SQLite by default, PostgreSQL for many replicas."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def transact(self, user_id: int, now: datetime, decide: Decide) -> Outcome:
        async with self.sessions.begin() as session:
            await self._ensure_user(session, user_id, now)
            user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
            assert user is not None
            user.last_seen_at = now
            user.active = True
            return await self._turn(session, user, now, decide)

    async def due_prompts(self, now: datetime, limit: int, user_id: int | None = None) -> list[int]:
        """Ids of pending prompts due by `now` (of one user, if given), oldest first."""
        async with self.sessions() as session:
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

        None if it was not ours to send (already handled, or the user cannot be reached).
        """
        async with self.sessions.begin() as session:
            claim = select(Prompt).where(Prompt.id == prompt_id, Prompt.status == "pending")
            prompt = await session.scalar(claim.with_for_update(skip_locked=True))
            if prompt is None:
                return None
            user = await session.scalar(select(User).where(User.id == prompt.user_id).with_for_update())
            prompt.handled_at = now
            prompt.status = "skipped"
            if user is None or not user.active:
                return None
            await session.flush()  # claimed before the turn may plan this kind of prompt anew
            outcome = await self._turn(session, user, now, decide(prompt.kind, prompt.due_at))
            if outcome.replies:
                prompt.status = "sent"
            if outcome.replies:
                session.add(
                    Outbox(user_id=user.id, payload=render(outcome), created_at=now, status="pending")
                )
            return Delivery(user.id, outcome)

    async def pending_outbox(self, limit: int, user_id: int | None = None) -> list[Queued]:
        """Committed messages not yet delivered, oldest first."""
        async with self.sessions() as session:
            query = select(Outbox).where(Outbox.status == "pending").order_by(Outbox.id).limit(limit)
            if user_id is not None:
                query = query.where(Outbox.user_id == user_id)
            return [Queued(r.id, r.user_id, r.payload) for r in (await session.scalars(query)).all()]

    async def outbox_done(self, outbox_id: int, now: datetime, delivered: bool, give_up_after: int) -> None:
        """Mark a queued message sent, or count a failed try (and stop trying after `give_up_after`)."""
        async with self.sessions.begin() as session:
            row = await session.get(Outbox, outbox_id)
            if row is None:
                return
            if delivered:
                row.status, row.sent_at = "sent", now
                return
            row.attempts += 1
            if row.attempts >= give_up_after:
                row.status = "failed"

    async def _turn(self, session: AsyncSession, user: User, now: datetime, decide: Decide) -> Outcome:
        row = await session.get(DialogueState, user.id)
        state = State.from_json({"name": row.name, "data": row.data} if row else None)
        outcome = decide(state)
        if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
            await self._forget(session, user.id)
            return outcome
        for effect in outcome.effects:
            await self._apply(session, user, effect, now)
        await self._save_state(session, user.id, outcome.state, now)
        return outcome

    async def load_state(self, user_id: int) -> State:
        async with self.sessions() as session:
            row = await session.get(DialogueState, user_id)
            return State.from_json({"name": row.name, "data": row.data} if row else None)

    async def mark_inactive(self, user_id: int) -> None:
        async with self.sessions.begin() as session:
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
            case RecordRedFlag(tier=tier):
                session.add(RedFlag(user_id=user.id, tier=tier, raised_at=now))
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

    async def rows_about(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every stored row about a user, table by table (for export and for checking deletion)."""
        result: dict[str, list[dict[str, Any]]] = {}
        async with self.sessions() as session:
            for table in [User, *USER_TABLES]:
                column = table.id if table is User else table.user_id
                rows = (await session.scalars(select(table).where(column == user_id))).all()
                result[table.__tablename__] = [
                    {c.key: getattr(r, c.key) for c in table.__table__.columns} for r in rows
                ]
        return result
