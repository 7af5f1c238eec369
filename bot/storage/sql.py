"""The storage port on SQLAlchemy 2 (async): SQLite by default, PostgreSQL for many replicas."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hipcoach.bot.storage.db import READ_ONLY, WriteGate
from hipcoach.bot.storage.history import SqlHistory
from hipcoach.bot.storage.models import (
    USER_TABLES,
    CheckIn,
    DialogueState,
    ProcessedUpdate,
    Prompt,
    RungChange,
    SafetyEvent,
    Tombstone,
    TombstoneKey,
    User,
    pending_prompts,
)
from hipcoach.bot.storage.outbox import OUTBOX_LEASE, SqlOutbox
from hipcoach.bot.storage.port import (
    ClaimedPrompt,
    ClaimedPrompts,
    ClaimedReply,
    Opened,
    Payload,
    tombstone_hash,
)
from hipcoach.bot.storage.statements import statements
from hipcoach.bot.storage.transactions import Link, Transactions
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
        self.outbox = SqlOutbox(self.transactions, outbox_lease)
        self.hashing = TombstoneHashing()

    async def close(self) -> None:
        """Let the connections go: the writer thread's or the held one, then the engine's pool."""
        await self.transactions.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self, now: datetime) -> AsyncIterator[SqlUnitOfWork]:
        async with self.transactions.begin() as link:
            yield SqlUnitOfWork(link, now, self.engine.dialect.name, self.hashing)
            # Leaving the transaction rolls back whatever was not committed.

    async def due_prompts(self, now: datetime, limit: int, user_id: int | None = None) -> list[int]:
        async with reading(self.sessions) as session:
            query = (
                select(Prompt.id)
                .where(pending_prompts(Prompt), Prompt.due_at <= now)
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
        inactive = update(User).where(User.id == user_id).values(active=False)
        await self.transactions.write(lambda connection: connection.execute(inactive))

    async def forget_inactive(self, cutoff: datetime) -> int:
        return await self.transactions.write(lambda connection: _forget_unseen(connection, cutoff))

    async def forget_tombstones(self, cutoff: datetime) -> int:
        expired = delete(Tombstone).where(Tombstone.deleted_at < cutoff)
        result = await self.transactions.write(lambda connection: connection.execute(expired))
        return int(getattr(result, "rowcount", 0) or 0)

    async def prune_history(self, now: datetime, batch: int) -> dict[str, int]:
        return await SqlHistory(self.transactions).prune(now, batch)


def _forget_unseen(connection: Connection, cutoff: datetime) -> int:
    ids = connection.scalars(select(User.id).where(User.last_seen_at < cutoff)).all()
    for user_id in ids:
        _forget(connection, user_id)
    return len(ids)


class TombstoneHashing:
    """Names deleted users as tombstones do, with the database's key (read once, never changed)."""

    def __init__(self) -> None:
        self.key: bytes | None = None

    def __call__(self, connection: Connection, user_id: int) -> str:
        if self.key is None:
            stored = connection.scalar(select(TombstoneKey.key).where(TombstoneKey.id == 1))
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


def _state_of(row: Any) -> State:
    return State.from_json({"name": row.name, "data": row.data} if row else None)


class SqlUnitOfWork:
    """One transaction in a few hand-offs: the reads as they are asked for, the writes kept until the
    replies are queued for the caller or the commit, then run together in one step.

    See bot/storage/port.py for what each step means.
    """

    def __init__(
        self,
        link: Link,
        now: datetime,
        dialect: str,
        hashing: TombstoneHashing,
    ) -> None:
        self.link = link
        self.now = now
        self.dialect = postgresql if dialect == "postgresql" else sqlite
        self.sql = statements(dialect)
        self.hashing = hashing
        self.writes: list[tuple[object, Write]] = []  # by whose rows they touch, in order
        self.seen: dict[int, bool] = {}  # update ids read under the user's lock, as open_user found them

    async def open_user(self, user_id: int, update_id: int | None = None) -> Opened:
        return await self.link.run(lambda connection: self._open(connection, user_id, update_id))

    def _open(self, connection: Connection, user_id: int, update_id: int | None) -> Opened:
        if not self._lock_user(connection, user_id):
            return Opened(user_id, State(), known=False, deleted=True)
        if update_id is None:
            row = connection.execute(self.sql.state, {"user_id": user_id}).first()
            return Opened(user_id, _state_of(row), row is not None)
        # Read under the user's lock, in one statement: the tombstone, whether another replica handled
        # a copy of this update, and the state.
        asked = {"user_id": user_id, "user_hash": self.hashing(connection, user_id), "update_id": update_id}
        found = connection.execute(self.sql.opened, asked).one()
        if found.buried is not None and update_id <= found.buried:
            return Opened(user_id, State(), known=False, deleted=True)
        self.seen[update_id] = bool(found.seen)
        known = found.name is not None
        return Opened(user_id, _state_of(found if known else None), known)

    def _lock_user(self, connection: Connection, user_id: int) -> bool:
        """Note the user seen now and lock them, adding them if new; False if deleted while this waited.

        The user's row is read before the lock is asked for: a row there before, gone once the lock is
        granted, was deleted by a turn that held it meanwhile (PostgreSQL). Inserting first would wait
        for that turn too, and then add them afresh.
        """
        user = {"user_id": user_id, "now": self.now}
        there = connection.execute(self.sql.user_there, user).first() is not None
        if not there and connection.execute(self.sql.add_user, user).first() is not None:
            return True  # new, and locked by the insert
        return connection.execute(self.sql.seen_user, user).first() is not None

    async def claim_prompts(self, prompt_ids: Sequence[int]) -> ClaimedPrompts:
        return await self.link.run(lambda connection: self._claim_prompts(connection, list(prompt_ids)))

    def _claim_prompts(self, connection: Connection, prompt_ids: list[int]) -> ClaimedPrompts:
        pending = (
            select(Prompt.id, Prompt.user_id, Prompt.kind, Prompt.due_at)
            .where(Prompt.id.in_(prompt_ids), Prompt.status == "pending")
            .order_by(Prompt.due_at, Prompt.id)
            .with_for_update(skip_locked=True)
        )
        prompts = connection.execute(pending).all()
        if not prompts:
            return ClaimedPrompts([])
        # A user's turn locks the user, then their prompts: waiting here for the user would deadlock
        # with it, so a busy user's prompts are left pending instead.
        lock_users = (
            select(User.id, User.active)
            .where(User.id.in_({p.user_id for p in prompts}))
            .order_by(User.id)
            .with_for_update(skip_locked=True)
        )
        active = {user.id: user.active for user in connection.execute(lock_users)}
        turns: dict[int, Any] = {}  # a reachable user's first prompt; their next waits for the next claim
        skipped = []
        for prompt in prompts:
            if active.get(prompt.user_id) is False:
                skipped.append(prompt.id)  # unreachable: skipped for good, no turn
            elif prompt.user_id in active:
                turns.setdefault(prompt.user_id, prompt)
        claimed = skipped + [p.id for p in turns.values()]
        if claimed:
            # Skipped until `prompt_sent`; claimed before the turns may plan these kinds of prompt anew.
            mark = update(Prompt).where(Prompt.id.in_(claimed))
            connection.execute(mark.values(status="skipped", handled_at=self.now))
        rows = {}
        if turns:
            states = select(DialogueState.user_id, DialogueState.name, DialogueState.data)
            rows = {
                row.user_id: row for row in connection.execute(states.where(DialogueState.user_id.in_(turns)))
            }
        return ClaimedPrompts(
            [
                ClaimedPrompt(Opened(u, _state_of(rows.get(u)), u in rows), p.id, p.kind, p.due_at)
                for u, p in turns.items()
            ],
            frozenset(p.id for p in prompts) - set(claimed),
        )

    async def seen_update(self, update_id: int) -> bool:
        if update_id not in self.seen:
            handled = self.sql.processed
            found = await self.link.run(lambda c: c.execute(handled, {"update_id": update_id}).first())
            self.seen[update_id] = found is not None
        return self.seen[update_id]

    async def record_update(self, user_id: int, update_id: int) -> None:
        row = {"update_id": update_id, "user_id": user_id, "processed_at": self.now}
        self.writes.append((user_id, self._insert("processed_updates", row)))

    async def apply(self, user_id: int, effects: Sequence[Effect]) -> None:
        for effect in effects:
            self.writes.extend((user_id, write) for write in self._written(user_id, effect))

    async def save(self, user_id: int, state: State) -> None:
        row = {"user_id": user_id, "name": state.name, "data": dict(state.data), "updated_at": self.now}
        self.writes.append((user_id, _run(self.sql.save_state, row)))

    async def queue(self, user_id: int, payload: Payload, claimed: bool) -> ClaimedReply | None:
        row: dict[str, Any] = {"user_id": user_id, "payload": payload, "created_at": self.now}
        row |= {"status": "sending", "claimed_at": self.now} if claimed else {"status": "pending"}
        if not claimed:
            self.writes.append((user_id, self._insert("outbox", row)))
            return None
        return await self.link.run(lambda connection: self._written_then_queued(connection, row))

    def _written_then_queued(self, connection: Connection, row: dict[str, Any]) -> ClaimedReply:
        """The turn's writes and its row, then what is ahead of the row and the chat's live keyboards (read
        in one statement, so the keyboards are those every earlier delivery left if none is ahead)."""
        self._write(connection)
        outbox_id = int(connection.execute(self.sql.queue, row).scalar_one())
        asked = {"user_id": row["user_id"], "oid": outbox_id}
        chat = connection.execute(self.sql.chat_behind, asked).one()
        if chat.ahead:
            return ClaimedReply(outbox_id, claimed_at=self.now)
        return ClaimedReply(outbox_id, False, tuple(chat.live_keyboards or ()), self.now)

    async def prompt_sent(self, prompt_id: int) -> None:
        # A claimed prompt's own row: no other write of the turn touches it.
        self.writes.append((("prompt", prompt_id), _run(self.sql.prompt_sent, {"prompt_id": prompt_id})))

    async def release_prompt(self, prompt_id: int) -> None:
        self.writes.append((("prompt", prompt_id), _run(self.sql.release_prompt, {"prompt_id": prompt_id})))

    def _insert(self, table: str, row: dict[str, Any]) -> Write:
        return _run(self.sql.inserts[table], row)

    async def forget(self, user_id: int, update_id: int | None = None) -> None:
        if update_id is not None:
            self.writes.append((user_id, Write(step=lambda c: self._bury(c, user_id, update_id))))
        self.writes.append((user_id, Write(step=lambda connection: _forget(connection, user_id))))

    def _bury(self, connection: Connection, user_id: int, update_id: int) -> None:
        handled = select(func.max(ProcessedUpdate.update_id)).where(ProcessedUpdate.user_id == user_id)
        last = max(update_id, connection.scalar(handled) or 0)
        user_hash = self.hashing(connection, user_id)
        values = {"last_update_id": last, "deleted_at": self.now}
        bury = self.dialect.insert(Tombstone).values(user_hash=user_hash, **values)
        # Deleted before, and back since with newer updates: the later of the two counts.
        again = {"last_update_id": func.max(Tombstone.last_update_id, last), "deleted_at": self.now}
        if self.dialect is postgresql:
            again["last_update_id"] = func.greatest(Tombstone.last_update_id, last)
        connection.execute(bury.on_conflict_do_update(index_elements=[Tombstone.user_hash], set_=again))

    async def commit(self) -> None:
        await self.link.run(self._write_and_commit)

    def _write_and_commit(self, connection: Connection) -> None:
        self._write(connection)
        connection.commit()

    def _write(self, connection: Connection) -> None:
        writes, self.writes = self.writes, []
        _run_writes(connection, writes)

    async def rollback(self) -> None:
        self.writes = []

    def _written(self, user_id: int, effect: Effect) -> list[Write]:
        """The statements that keep one effect, in order."""
        now, sql, mine = self.now, self.sql, {"user_id": user_id}
        match effect:
            case RecordConsent(given=given):
                return [_run(sql.consent, {**mine, "at": now if given else None})]
            case RecordAnswer(question=question, value=value):
                return [_run(sql.answer, {**mine, "question": question, "value": value, "answered_at": now})]
            case RecordRedFlag(tier=tier, signs=signs, state=where):
                row = {**mine, "tier": tier, "signs": list(signs), "state": where, "raised_at": now}
                return [self._insert("safety_events", row)]
            case SetPosition(ladder=ladder, exercise=exercise, reason=reason):
                row = {**mine, "ladder": ladder, "exercise": exercise, "reason": reason, "changed_at": now}
                return [self._insert("rung_changes", row)]
            case ClearScreening():
                return [_run(sql.clear_answers, mine)]
            case RecordCheckIn():
                return [
                    self._insert("check_ins", {**mine, "checked_in_at": now, "morning": None, **vars(effect)})
                ]
            case RecordMorning(answer=answer, since=since):
                return [_run(sql.morning, {"of_user": user_id, "since": since, "answer": answer})]
            case RecordDecision(kind=kind, exercise=exercise, reason=reason):
                row = {**mine, "kind": kind, "exercise": exercise, "reason": reason, "decided_at": now}
                return [self._insert("decisions", row)]
            case SchedulePrompt(kind=kind, due_at=due_at):
                row = {**mine, "kind": kind, "due_at": due_at, "status": "pending", "handled_at": None}
                cancel = _run(sql.cancel_kind, {"user_id": user_id, "kind": kind})
                return [cancel, self._insert("prompts", row)]
            case CancelPrompts(kinds=kinds):
                return [self._cancel(user_id, kinds)]
            case RecordGoal(activity=activity, score=score):
                return [
                    self._insert(
                        "goal_ratings", {**mine, "activity": activity, "score": score, "rated_at": now}
                    )
                ]
            case NotifyCoach() | ForgetUser():
                return []  # the coach notifies after the commit; forgetting is the coach's call to `forget`
            case _:
                raise TypeError(f"unknown effect {type(effect).__name__}")

    def _cancel(self, user_id: int, kinds: tuple[str, ...]) -> Write:
        if kinds:  # a list parameter: run alone, as executemany cannot take one
            cancel, mine = self.sql.cancel_kinds, {"user_id": user_id, "kinds": list(kinds)}
            return Write(step=lambda connection: connection.execute(cancel, mine))
        return _run(self.sql.cancel_all, {"user_id": user_id})


@dataclass(frozen=True)
class Write:
    """A kept write: a built statement and its parameters, or a step of several statements."""

    statement: Any = None
    parameters: dict[str, Any] | None = None
    step: Callable[[Connection], Any] | None = None


def _run(statement: Any, parameters: dict[str, Any]) -> Write:
    return Write(statement, parameters)


def _run_writes(connection: Connection, writes: list[tuple[object, Write]]) -> None:
    """Run kept writes, each owner's in order, the same statement of several owners as one executemany.

    Writes of different owners (users, claimed prompts) touch different rows, so they may run in any
    order: round by round, each owner's next write, a round's alike statements together. A batch of
    prompts' turns writes each kind of row in one statement, where one by one it took one each.
    """
    queues: dict[object, deque[Write]] = {}
    for owner, write in writes:
        queues.setdefault(owner, deque()).append(write)
    while queues:
        alike: dict[int, list[Write]] = {}
        for owner in list(queues):
            write = queues[owner].popleft()
            if not queues[owner]:
                del queues[owner]
            if write.step is not None:
                write.step(connection)
            else:
                alike.setdefault(id(write.statement), []).append(write)
        for group in alike.values():
            parameters = [write.parameters or {} for write in group]
            connection.execute(group[0].statement, parameters if len(parameters) > 1 else parameters[0])


def _forget(connection: Connection, user_id: int) -> None:
    for table in USER_TABLES:
        connection.execute(delete(table).where(table.__table__.c.user_id == user_id))
    connection.execute(delete(User).where(User.id == user_id))


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
