"""Write transactions as plain synchronous SQLAlchemy Core code, handed off once per step.

On SQLite a transaction's steps run on one writer thread with its own connection: a step of several
statements is one hand-off, where aiosqlite makes one per statement. On PostgreSQL the same code runs
on the event loop through asyncpg (SQLAlchemy's greenlet bridge: no thread at all). Either way one
write transaction of this process runs at a time on SQLite (`WriteGate`), any number on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hipcoach.bot.storage.db import WriteGate, serialise_sqlite

T = TypeVar("T")
Step = Callable[[Connection], T]


class Link(Protocol):
    """An open write transaction: run steps on its connection, then commit (else it rolls back)."""

    async def run(self, step: Step[T]) -> T: ...
    async def commit(self) -> None: ...


class _ThreadLink:
    """A SQLite transaction on the writer thread's connection."""

    def __init__(self, connection: Connection, writer: _Writer) -> None:
        self.connection = connection
        self.writer = writer

    async def run(self, step: Step[T]) -> T:
        return await self.writer.call(step, self.connection)

    async def commit(self) -> None:
        await self.writer.call(Connection.commit, self.connection)


class _LoopLink:
    """A PostgreSQL transaction on an asyncpg connection, steps run through the greenlet bridge."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def run(self, step: Step[T]) -> T:
        return await self.connection.run_sync(step)

    async def commit(self) -> None:
        await self.connection.commit()


class _Writer:
    """SQLite's one writer thread and the synchronous engine it alone uses."""

    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url.set(drivername="sqlite")
        self.engine: Engine = create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=False)
        serialise_sqlite(self.engine)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # The one connection, kept open between transactions (they run one at a time): none to check
        # out or give back per transaction. Let go after a failure; the next transaction reconnects.
        self.held: list[Connection] = []
        self._finalizer = weakref.finalize(self, _close, self.thread, self.engine, self.held)  # runs once

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, function, *args)

    def connect(self) -> Connection:
        """The held connection, made first if there is none (on the writer thread)."""
        if not self.held:
            self.held.append(self.engine.connect())
        return self.held[0]

    async def close(self) -> None:
        """Close the connection on the writer thread, after the steps queued before, and wait for it: the
        file's lock is free when this returns."""
        if self._finalizer.alive:
            await self.call(_closing, self.engine, self.held)
            self._finalizer()  # the thread goes; nothing is left for it to close


def _closing(engine: Engine, held: list[Connection]) -> None:
    while held:
        held.pop().close()
    engine.dispose()


def _close(thread: ThreadPoolExecutor, engine: Engine, held: list[Connection]) -> None:
    closing = partial(_closing, engine, held)
    try:
        thread.submit(closing)  # on the thread that made its connection
    except RuntimeError:  # the interpreter is exiting: its threads take no more work
        closing()
    thread.shutdown(wait=False)


def _committed(step: Step[T], connection: Connection) -> T:
    result = step(connection)
    connection.commit()
    return result


class _HeldAutocommit:
    """One PostgreSQL connection in autocommit, kept between steps: checking one out of the pool and
    setting its isolation level cost more CPU than the statement (about 120 us against 60)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self.held: AsyncConnection | None = None

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    async def run(self, step: Step[T]) -> T:
        async with self.lock:
            if self.held is None:
                connection = await self.engine.connect()
                self.held = await connection.execution_options(isolation_level="AUTOCOMMIT")
            try:
                return await self.held.run_sync(step)
            except BaseException:
                await self._let_go()  # it may be broken: the next step connects afresh
                raise

    async def close(self) -> None:
        async with self.lock:
            await self._let_go()

    async def _let_go(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(held.close())


class Transactions:
    """Opens write transactions on the storage's engine; see the module docstring."""

    def __init__(self, engine: AsyncEngine, gate: WriteGate | None = None) -> None:
        self.engine = engine
        self.gate = gate or WriteGate(engine)
        self.writer = _Writer(engine) if engine.dialect.name == "sqlite" else None
        self.autocommit = _HeldAutocommit(engine)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Link]:
        """A write transaction held across steps; rolled back unless committed."""
        async with self.gate():
            if self.writer is None:
                async with self.engine.connect() as pooled:
                    yield _LoopLink(pooled)  # closing rolls back what was not committed
                return
            writer = self.writer
            connection = writer.held[0] if writer.held else await writer.call(writer.connect)
            # Shielded below: a cancelled caller must still end its transaction, on the writer thread.
            try:
                yield _ThreadLink(connection, writer)
            except BaseException:
                # Let go of it at once, so the next transaction connects afresh (queued on the same
                # thread after this close) even if this task is cancelled again while it waits.
                writer.held.clear()
                await asyncio.shield(writer.call(connection.close))
                raise
            if connection.in_transaction():  # left without a commit: nothing of it is kept
                await asyncio.shield(writer.call(connection.rollback))

    async def write(self, step: Step[T]) -> T:
        """One step in its own transaction, committed in the same hand-off."""
        async with self.begin() as link:
            return await link.run(lambda connection: _committed(step, connection))

    async def single(self, step: Step[T]) -> T:
        """A step whose statements are each atomic by themselves (a read, or writes that need no other).

        On PostgreSQL it runs in autocommit: a round trip a statement, with no BEGIN and COMMIT. On
        SQLite it runs as `write`, in one hand-off on the writer's connection, after the write under
        way (an aiosqlite connection would cost a hand-off a statement); a read's commit writes
        nothing, so it costs no sync to disk.
        """
        if self.writer is not None:
            return await self.write(step)
        if not self.autocommit.busy:
            return await self.autocommit.run(step)
        async with self.engine.connect() as connection:  # the held one is in use: one from the pool
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await autocommit.run_sync(step)

    async def close(self) -> None:
        """Let SQLite's writer thread and PostgreSQL's held connection go (the rest are the engine's)."""
        if self.writer is not None:
            await self.writer.close()
        await self.autocommit.close()
