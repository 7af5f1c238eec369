"""Storage port and its SQLAlchemy implementation: one user's turn is one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.models import USER_TABLES, DialogueState, RedFlag, RungChange, ScreeningAnswer, User
from flows.values import (
    ClearScreening,
    Effect,
    ForgetUser,
    Outcome,
    RecordAnswer,
    RecordConsent,
    RecordRedFlag,
    SetPosition,
    State,
)

Decide = Callable[[State], Outcome]


class Storage(Protocol):
    async def transact(self, user_id: int, now: datetime, decide: Decide) -> Outcome:
        """Load the user's state, decide, and commit the outcome's state and effects atomically."""
        ...

    async def load_state(self, user_id: int) -> State: ...


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
            row = await session.get(DialogueState, user_id)
            state = State.from_json({"name": row.name, "data": row.data} if row else None)
            outcome = decide(state)
            if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
                await self._forget(session, user_id)
                return outcome
            user.last_seen_at = now
            user.active = True
            for effect in outcome.effects:
                await self._apply(session, user, effect, now)
            await self._save_state(session, user_id, outcome.state, now)
            return outcome

    async def load_state(self, user_id: int) -> State:
        async with self.sessions() as session:
            row = await session.get(DialogueState, user_id)
            return State.from_json({"name": row.name, "data": row.data} if row else None)

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
            case _:
                raise TypeError(f"unknown effect {type(effect).__name__}")

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
