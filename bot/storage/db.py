"""Database engines and schema migrations (Alembic, run on the application's own connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "hipcoach_read_only"  # execution option: the connection only reads (see `reading`)


# PostgreSQL connections a process may hold: the dispatcher's 64 senders each read and note a chat's
# live keyboards, besides 16 updates in flight, the prompts' turns and the outbox's bookkeeping. With 30,
# senders queued for connections and a process sent 80 prompts/s at a 50 ms round trip; with 80, 300/s.
# deploy/compose.yaml raises the server's max_connections to 300: three replicas.
POSTGRES_POOL = {"pool_size": 40, "max_overflow": 40}


def make_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine; on SQLite, foreign keys on, and each transaction takes the write lock at once."""
    if url.startswith("postgresql"):
        options = {**POSTGRES_POOL, **options}
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        serialise_sqlite(engine.sync_engine)
    return engine


def serialise_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers the lock; BEGIN IMMEDIATE makes each turn
    # one serialised unit, so two processes never interleave a user's turn. A READ_ONLY connection
    # begins deferred: it reads a snapshot (WAL) and never waits for a writer.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that only reads: on SQLite it takes no write lock, so no writer can hold it up."""
    async with engine.connect() as connection:
        yield await connection.execution_options(**{READ_ONLY: True})


class WriteGate:
    """One write transaction of this process at a time, in the order they ask (SQLite only).

    SQLite has a single writer. Without the gate, the writers of one process meet at the file lock
    and retry on SQLite's busy timer, whose sleeps grow to 100 ms: a writer that commits and begins
    again at once (the dispatcher taking due prompts' turns) starves the others (the sends' marks).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest migration)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
