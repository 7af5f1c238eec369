"""The raw floor of a turn's SQL: record what the application executes, replay it with the bare driver.

`recording(engines)` notes every statement, with its parameters, and every begin, commit and
rollback, on each connection of the given synchronous engines (SQLAlchemy's `before_cursor_execute`,
`begin`, `commit` and `rollback` events; an AsyncEngine's events are its `sync_engine`'s). The
replay runs the same statements with the same parameters in the same transactions, one raw
connection for each recorded one, on an untouched copy of the database: `sqlite3` with the
storage's pragmas (WAL, foreign keys, its default `synchronous`, so fsync as configured), or
`asyncpg`. Rows are fetched as the application fetches them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

BEGIN, COMMIT, ROLLBACK = "<begin>", "<commit>", "<rollback>"


@dataclass(frozen=True)
class Executed:
    connection: int  # which recorded connection
    sql: str  # a statement, or BEGIN / COMMIT / ROLLBACK
    params: Any = None
    many: bool = False


@dataclass
class Recording:
    items: list[Executed] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)  # item indexes where the caller's chunks begin

    def mark(self) -> None:
        self.marks.append(len(self.items))

    @property
    def timed(self) -> list[Executed]:
        """The items from the first mark on (all of them if none was made)."""
        return self.items[self.marks[0] :] if self.marks else self.items

    @property
    def statements(self) -> int:
        return sum(item.sql not in (BEGIN, COMMIT, ROLLBACK) for item in self.timed)

    @property
    def commits(self) -> int:
        return sum(item.sql == COMMIT for item in self.timed)


def _key(connection: Connection) -> int:
    return id(connection.connection.dbapi_connection)


@contextlib.contextmanager
def recording(engines: list[Engine]) -> Iterator[Recording]:
    """Every statement and transaction boundary on these engines while the block runs."""
    found = Recording()

    def executing(conn: Connection, _cursor: Any, sql: str, params: Any, _context: Any, many: bool) -> None:
        found.items.append(Executed(_key(conn), sql, params, many))

    def marker(kind: str) -> Any:
        def note(conn: Connection) -> None:
            found.items.append(Executed(_key(conn), kind))

        return note

    listeners = [
        ("before_cursor_execute", executing),
        ("begin", marker(BEGIN)),
        ("commit", marker(COMMIT)),
        ("rollback", marker(ROLLBACK)),
    ]
    for engine in engines:
        for name, function in listeners:
            # First in line: SQLite's own `begin` listener runs BEGIN IMMEDIATE, recorded after the mark.
            event.listen(engine, name, function, insert=True)
    try:
        yield found
    finally:
        for engine in engines:
            for name, function in listeners:
                event.remove(engine, name, function)


def _begins_itself(sql: str) -> bool:
    return sql.lstrip().upper().startswith("BEGIN")


def replay_sqlite(path: str, recording: Recording, timed_from: int = 0) -> float:
    """Replay on a SQLite file with sqlite3; the process CPU seconds of the items from `timed_from` on."""
    connections: dict[int, sqlite3.Connection] = {}
    for item in recording.items:
        if item.connection not in connections:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in ("foreign_keys=ON", "busy_timeout=10000", "journal_mode=WAL"):
                connection.execute(f"PRAGMA {pragma}")
            connections[item.connection] = connection
    begun: set[int] = set()
    started = 0.0
    try:
        for index, item in enumerate(recording.items):
            if index == timed_from:
                started = time.process_time()
            connection = connections[item.connection]
            if item.sql == BEGIN:
                begun.add(item.connection)
            elif item.sql in (COMMIT, ROLLBACK):
                begun.discard(item.connection)
                if connection.in_transaction:
                    connection.execute("COMMIT" if item.sql == COMMIT else "ROLLBACK")
            else:
                if item.connection in begun:
                    begun.discard(item.connection)
                    if not _begins_itself(item.sql) and not connection.in_transaction:
                        connection.execute("BEGIN")
                if item.many:
                    connection.executemany(item.sql, item.params)
                else:
                    connection.execute(item.sql, item.params or ()).fetchall()
        return time.process_time() - started
    finally:
        for connection in connections.values():
            connection.close()


async def replay_asyncpg(dsn: str, recording: Recording, timed_from: int = 0) -> float:
    """Replay on a PostgreSQL database with asyncpg; the process CPU seconds from `timed_from` on."""
    connections: dict[int, asyncpg.Connection] = {}
    for item in recording.items:
        if item.connection not in connections:
            connections[item.connection] = await asyncpg.connect(dsn)
    begun: set[int] = set()
    open_transactions: set[int] = set()
    started = 0.0
    try:
        for index, item in enumerate(recording.items):
            if index == timed_from:
                started = time.process_time()
            connection = connections[item.connection]
            if item.sql == BEGIN:
                begun.add(item.connection)
            elif item.sql in (COMMIT, ROLLBACK):
                begun.discard(item.connection)
                if item.connection in open_transactions:
                    open_transactions.discard(item.connection)
                    await connection.execute("COMMIT" if item.sql == COMMIT else "ROLLBACK")
            else:
                if item.connection in begun:
                    begun.discard(item.connection)
                    open_transactions.add(item.connection)
                    await connection.execute("BEGIN")
                if item.many:
                    await connection.executemany(item.sql, [tuple(row) for row in item.params])
                else:
                    await connection.fetch(item.sql, *(item.params or ()))
        return time.process_time() - started
    finally:
        for connection in connections.values():
            await connection.close()
