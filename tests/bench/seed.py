"""Large benchmark databases, generated in SQL and cached between runs.

Every database is first brought to the newest migration (`hipcoach.bot.storage.db.upgrade`), so its
tables are the ones the bot really uses. Then rows are generated inside the database (a recursive
CTE on SQLite, `generate_series` on PostgreSQL) with secondary indexes dropped during the load and
recreated from their own definitions afterwards. The result is cached, keyed by the migration head,
the sizes and `LAYOUT` (bump it when the generated rows change); runs work on copies and never touch
the cache.

Who is in a population of `users` (ids 1..users):
- `due` of them, spread evenly over the ids, sit idle with a session prompt due in the hour from
  `DUE_START`, one every `DUE_STEP` in a shuffled order: `due_clock(k)` makes exactly k of them due,
  scattered over the id range;
- everyone else has just done a session and is asked how it went (state `checkin_pain`), so a typed
  sentence is a full check-in turn;
- everyone has three pending prompts (session, weekly summary, goal re-rating; the future ones
  spread over a week), one check-in, one rung change, one delivered outbox row and one processed
  update, like a user a week into the programme. (Screening answers, decisions and goal ratings are
  not generated.) A column the generator does not know is left to its default when it has one or
  may be NULL; a table with a required column the generator does not fill (the schema moved on) is
  left empty rather than guessed at, and the build says so.

`history` more rows of the past, spread over the users in equal thirds: sent outbox rows, processed
updates and handled (sent) prompts, all older than any pending row, as months of use leave behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from hipcoach.bot.bootstrap import load_content
from hipcoach.bot.storage.db import head_revision, make_engine, upgrade
from hipcoach.flows import Choice, Command, State, Text, step

LAYOUT = "v4"
ONBOARDED = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
DUE_START = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
DUE_STEP = timedelta(microseconds=450_000)
MAX_DUE = 8_000  # one hour of due prompts at DUE_STEP
SHUFFLE = 7919  # a prime: coprime with any number of due users not divisible by it
TURN_NOW = datetime(2026, 12, 7, 18, 40, tzinfo=UTC)  # after the 18:00 session
FUTURE = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)  # future prompts: within a week from here
WEEK_S = 7 * 24 * 3600
CHECKIN_TEXT = "pain 2, about right, smooth"
SENT_PAYLOAD = [{"text": "Time for your session: Kneeling hip thrust. Ready?", "buttons": []}]
# The columns each generated table must have exactly; else it is skipped.
COLUMNS = {
    "users": {"id", "created_at", "last_seen_at", "consented_at", "active"},
    "dialogue_states": {"user_id", "name", "data", "updated_at"},
    "prompts": {"id", "user_id", "kind", "due_at", "status", "handled_at"},
    "check_ins": {
        "id", "user_id", "exercise", "pain", "effort", "control", "location", "morning", "checked_in_at",
    },
    "rung_changes": {"id", "user_id", "ladder", "exercise", "reason", "changed_at"},
    "outbox": {"id", "user_id", "payload", "created_at", "status", "attempts", "sent_at", "claimed_at"},
    "processed_updates": {"update_id", "user_id", "processed_at"},
}  # fmt: skip
REQUIRED = ("users", "dialogue_states", "prompts")
STALE_S = 6 * 3600  # a cached file of another schema is deleted once untouched this long
HISTORY_UPDATE_IDS = 500_000_000  # processed update ids of the history start here, clear of the run's

ONBOARDING = [
    "consent:yes", "red_flags_urgent:no", "red_flags_clinician:no", "load_pain:no", "kneeling_ok:yes",
    "knee_issues:no", "equipment:none", "goal_activity:0", "goal_rating:7", "session:done",
    "checkin_pain:2", "checkin_effort:ok", "checkin_control:smooth", "schedule_days:mon_wed_fri",
    "schedule_time:1800", "schedule_zone:utc", "schedule_summary_day:6", "schedule_confirm:yes",
]  # fmt: skip


def schema_key() -> str:
    """The migration head and a digest of every migration: a migration edited in place rebuilds too."""
    versions = Path(upgrade.__code__.co_filename).parent / "migrations" / "versions"
    digest = hashlib.sha1()
    for path in sorted(versions.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"{head_revision()}x{digest.hexdigest()[:8]}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(os.environ.get("HIPCOACH_BENCH_CACHE") or Path(base) / "hipcoach-bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Population:
    users: int
    due: int = 0
    history: int = 0

    def __post_init__(self) -> None:
        assert 0 <= self.due <= min(MAX_DUE, self.users)

    @property
    def stride(self) -> int:
        return self.users // self.due if self.due else 0

    @property
    def shuffle(self) -> int:
        """Due users come due in a shuffled order (slot * inverse(SHUFFLE) mod due), so each thousand
        due together is spread over the whole id range, at every size, as random users would be."""
        return pow(SHUFFLE, -1, self.due) if self.due > 1 else 0

    def key(self) -> str:
        return f"{schema_key()}-{self.users}-{self.due}-{self.history}-{LAYOUT}"

    def is_due(self, user_id: int) -> bool:
        return bool(self.due) and (user_id - 1) % self.stride == 0 and (user_id - 1) // self.stride < self.due

    def checkin_users(self, count: int, seed: int) -> list[int]:
        """`count` distinct users waiting to check in, drawn at random over the whole id range."""
        chosen: list[int] = []
        seen: set[int] = set()
        rng = random.Random(seed)
        while len(chosen) < count:
            user_id = rng.randint(1, self.users)
            if user_id not in seen and not self.is_due(user_id):
                seen.add(user_id)
                chosen.append(user_id)
        return chosen


def due_clock(count: int) -> datetime:
    """The moment at which exactly the first `count` due prompts are due."""
    return DUE_START + DUE_STEP * (count - 1) + timedelta(microseconds=1)


def template_states() -> dict[str, dict[str, Any]]:
    """The stored states, made by the engine itself: idle after onboarding, and asked for a check-in."""
    content = load_content()
    outcome = step(State(), Text("hi"), ONBOARDED, content)
    for value in ONBOARDING:
        outcome = step(outcome.state, Choice(value), ONBOARDED, content)
    assert outcome.state.name == "idle", outcome.state.name
    idle = outcome.state
    checkin = step(idle, Command("checkin"), DUE_START, content).state
    assert checkin.name == "checkin_pain", checkin.name
    return {"idle": dict(idle.data), "checkin_pain": dict(checkin.data)}


# ---------------------------------------------------------------- SQLite


def _sqlite_time(moment: datetime) -> int:
    return int(moment.timestamp())


SQLITE_TIME = "strftime('%Y-%m-%d %H:%M:%S', {secs}, 'unixepoch') || printf('.%06d', {micros})"
SQLITE_DUE_US = "((((n - 1) / :stride) * :shuffle) % :due) * :step_us"


def _sqlite_rows(population: Population) -> list[tuple[str, str, dict[str, Any]]]:
    """INSERT ... SELECT statements over n = 1..users, with their parameters."""
    states = template_states()
    due = "(:due > 0 AND (n - 1) % :stride = 0 AND (n - 1) / :stride < :due)"
    onboarded = SQLITE_TIME.format(secs=":onboarded", micros="0")
    due_at = SQLITE_TIME.format(
        secs=f":due_start + {SQLITE_DUE_US} / 1000000", micros=f"{SQLITE_DUE_US} % 1000000"
    )

    def future(prime: int) -> str:
        return SQLITE_TIME.format(secs=f":future + (n * {prime}) % {WEEK_S}", micros="0")

    seq = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :users) "
    params = {
        "users": population.users,
        "due": population.due,
        "stride": population.stride or 1,
        "step_us": DUE_STEP // timedelta(microseconds=1),
        "shuffle": population.shuffle,
        "onboarded": _sqlite_time(ONBOARDED),
        "due_start": _sqlite_time(DUE_START),
        "future": _sqlite_time(FUTURE),
        "idle": json.dumps(states["idle"]),
        "checkin": json.dumps(states["checkin_pain"]),
        "payload": json.dumps(SENT_PAYLOAD),
    }
    position = states["idle"]["position"]
    statements = [
        f"INSERT INTO users (id, created_at, last_seen_at, consented_at, active) "
        f"SELECT n, {onboarded}, {onboarded}, {onboarded}, 1 FROM seq",
        f"INSERT INTO dialogue_states (user_id, name, data, updated_at) SELECT n, "
        f"CASE WHEN {due} THEN 'idle' ELSE 'checkin_pain' END, "
        f"CASE WHEN {due} THEN :idle ELSE :checkin END, {onboarded} FROM seq",
        f"INSERT INTO prompts (user_id, kind, due_at, status) SELECT n, 'session', "
        f"CASE WHEN {due} THEN {due_at} ELSE {future(7919)} END, 'pending' FROM seq",
        f"INSERT INTO prompts (user_id, kind, due_at, status) SELECT n, 'weekly', {future(104729)}, "
        f"'pending' FROM seq",
        f"INSERT INTO prompts (user_id, kind, due_at, status) SELECT n, 'goal', {future(15485863)}, "
        f"'pending' FROM seq",
        f"INSERT INTO check_ins (user_id, exercise, pain, effort, control, checked_in_at) "
        f"SELECT n, '{position['exercise']}', 2, 'ok', 'smooth', {onboarded} FROM seq",
        f"INSERT INTO rung_changes (user_id, ladder, exercise, reason, changed_at) "
        f"SELECT n, '{position['ladder']}', '{position['exercise']}', 'start', {onboarded} FROM seq",
        f"INSERT INTO outbox (user_id, payload, created_at, status, attempts, sent_at) "
        f"SELECT n, :payload, {onboarded}, 'sent', 0, {onboarded} FROM seq",
        f"INSERT INTO processed_updates (update_id, user_id, processed_at) SELECT n, n, {onboarded} FROM seq",
    ]
    rows = [(sql.split()[2], seq + sql, params) for sql in statements]
    if population.history:
        third = population.history // 3
        past = SQLITE_TIME.format(secs=f":onboarded - 60 - n % {90 * 86400}", micros="0")
        owner = f"((n - 1) % {population.users}) + 1"
        hseq = f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {third}) "
        history = [
            f"INSERT INTO outbox (user_id, payload, created_at, status, attempts, sent_at) "
            f"SELECT {owner}, :payload, {past}, 'sent', 0, {past} FROM seq",
            f"INSERT INTO processed_updates (update_id, user_id, processed_at) "
            f"SELECT {HISTORY_UPDATE_IDS} + n, {owner}, {past} FROM seq",
            f"INSERT INTO prompts (user_id, kind, due_at, status, handled_at) "
            f"SELECT {owner}, 'session', {past}, 'sent', {past} FROM seq",
        ]
        rows += [(sql.split()[2], hseq + sql, params) for sql in history]
    return rows


def _fits(table: str, columns: dict[str, bool]) -> bool:
    """Whether a table has the columns the generator writes, and every other one may be left out
    (`columns`: name -> has a default or may be NULL); a required table must fit."""
    found = set(columns)
    if COLUMNS[table] <= found and all(columns[name] for name in found - COLUMNS[table]):
        return True
    if table in REQUIRED:
        raise RuntimeError(f"{table} has columns {sorted(found)}; seed.py generates {sorted(COLUMNS[table])}")
    print(f"[seed] {table} left empty: its columns changed to {sorted(found)}", file=sys.stderr)
    return False


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _fill_sqlite(path: Path, population: Population) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        connection.execute("BEGIN")
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for table, sql, params in _sqlite_rows(population):
            info = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
            # (cid, name, type, notnull, default, pk): an integer primary key fills itself
            found = {row[1]: not row[3] or row[4] is not None or bool(row[5]) for row in info}
            if _fits(table, found):
                connection.execute(sql, {k: v for k, v in params.items() if f":{k}" in sql})
        for _, sql in indexes:
            connection.execute(sql)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _outdated(key: list[str]) -> bool:
    """Whether a cache key (head, users, due, history, layout) was made for another schema or layout."""
    return len(key) != 5 or key[0] != schema_key() or key[4] != LAYOUT.lower()


def sqlite_template(population: Population, log: Any = print) -> Path:
    """The cached SQLite file for a population, built first if needed."""
    root = cache_dir()
    path = root / f"sqlite-{population.key()}.db"
    if path.exists():
        return path
    for stale in root.glob("sqlite-*.db*"):
        # Made for another schema or layout, and not lately: a run of another version may be using it.
        if (
            _outdated(stale.name.split(".")[0].split("-")[1:])
            and time.time() - stale.stat().st_mtime > STALE_S
        ):
            stale.unlink(missing_ok=True)
    started = time.perf_counter()
    building = path.with_suffix(".building")
    for leftover in root.glob(building.name + "*"):
        leftover.unlink()
    with ThreadPoolExecutor(1) as thread:  # callable from inside an event loop too
        thread.submit(asyncio.run, _migrate(f"sqlite+aiosqlite:///{building}")).result()
    _fill_sqlite(building, population)
    building.rename(path)
    log(f"built {path.name} in {time.perf_counter() - started:.1f} s")
    return path


def sqlite_copy(template: Path, directory: Path, name: str) -> str:
    """A working copy of a cached database (benchmarks write to it); returns its async URL."""
    target = directory / f"{name}.db"
    for old in directory.glob(f"{name}.db*"):
        old.unlink()
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


# ---------------------------------------------------------------- PostgreSQL


def _pg_time(moment: datetime) -> str:
    return f"timestamptz '{moment.isoformat()}'"


def _pg_rows(population: Population) -> list[tuple[str, tuple[Any, ...]]]:
    """INSERT ... SELECT statements over n = 1..users; our own constants are inlined, the states bound."""
    states = template_states()
    position = states["idle"]["position"]
    stride = population.stride or 1
    due = f"({population.due} > 0 AND (n - 1) % {stride} = 0 AND (n - 1) / {stride} < {population.due})"
    series = f"FROM generate_series(1, {population.users}::bigint) AS n"
    onboarded = _pg_time(ONBOARDED)
    step_us = DUE_STEP // timedelta(microseconds=1)
    order = f"((((n - 1) / {stride}) * {population.shuffle}) % {max(population.due, 1)})"
    due_at = f"{_pg_time(DUE_START)} + {order} * {step_us} * interval '1 microsecond'"

    def future(prime: int) -> str:
        return f"{_pg_time(FUTURE)} + ((n * {prime}) % {WEEK_S}) * interval '1 second'"

    return [
        (
            f"INSERT INTO users (id, created_at, last_seen_at, consented_at, active) "
            f"SELECT n, {onboarded}, {onboarded}, {onboarded}, true {series}",
            (),
        ),
        (
            f"INSERT INTO dialogue_states (user_id, name, data, updated_at) SELECT n, "
            f"CASE WHEN {due} THEN 'idle' ELSE 'checkin_pain' END, "
            f"(CASE WHEN {due} THEN $1::text ELSE $2::text END)::json, {onboarded} {series}",
            (json.dumps(states["idle"]), json.dumps(states["checkin_pain"])),
        ),
        (
            f"INSERT INTO prompts (user_id, kind, due_at, status) SELECT n, 'session', "
            f"CASE WHEN {due} THEN {due_at} ELSE {future(7919)} END, 'pending' {series}",
            (),
        ),
        (
            f"INSERT INTO prompts (user_id, kind, due_at, status) "
            f"SELECT n, 'weekly', {future(104729)}, 'pending' {series}",
            (),
        ),
        (
            f"INSERT INTO prompts (user_id, kind, due_at, status) "
            f"SELECT n, 'goal', {future(15485863)}, 'pending' {series}",
            (),
        ),
        (
            f"INSERT INTO check_ins (user_id, exercise, pain, effort, control, checked_in_at) "
            f"SELECT n, '{position['exercise']}', 2, 'ok', 'smooth', {onboarded} {series}",
            (),
        ),
        (
            f"INSERT INTO rung_changes (user_id, ladder, exercise, reason, changed_at) "
            f"SELECT n, '{position['ladder']}', '{position['exercise']}', 'start', {onboarded} {series}",
            (),
        ),
        (
            f"INSERT INTO outbox (user_id, payload, created_at, status, attempts, sent_at) "
            f"SELECT n, $1::text::json, {onboarded}, 'sent', 0, {onboarded} {series}",
            (json.dumps(SENT_PAYLOAD),),
        ),
        (
            f"INSERT INTO processed_updates (update_id, user_id, processed_at) "
            f"SELECT n, n, {onboarded} {series}",
            (),
        ),
        *_pg_history(population),
    ]


def _pg_history(population: Population) -> list[tuple[str, tuple[Any, ...]]]:
    """The history rows (see the module docstring), in thirds, all before ONBOARDED."""
    if not population.history:
        return []
    series = f"FROM generate_series(1, {population.history // 3}::bigint) AS n"
    past = f"{_pg_time(ONBOARDED)} - (60 + n % {90 * 86400}) * interval '1 second'"
    owner = f"((n - 1) % {population.users}) + 1"
    return [
        (
            f"INSERT INTO outbox (user_id, payload, created_at, status, attempts, sent_at) "
            f"SELECT {owner}, $1::text::json, {past}, 'sent', 0, {past} {series}",
            (json.dumps(SENT_PAYLOAD),),
        ),
        (
            f"INSERT INTO processed_updates (update_id, user_id, processed_at) "
            f"SELECT {HISTORY_UPDATE_IDS} + n, {owner}, {past} {series}",
            (),
        ),
        (
            f"INSERT INTO prompts (user_id, kind, due_at, status, handled_at) "
            f"SELECT {owner}, 'session', {past}, 'sent', {past} {series}",
            (),
        ),
    ]


SECONDARY_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace s ON s.oid = t.relnamespace
WHERE s.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _fill_pg(url: str, population: Population) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")  # no FK triggers
            indexes = await connection.fetch(SECONDARY_INDEXES)
            for name, _ in indexes:
                await connection.execute(f'DROP INDEX "{name}"')
            for sql, params in _pg_rows(population):
                table = sql.split()[2]
                found = await connection.fetch(
                    "SELECT column_name, is_nullable = 'YES' OR column_default IS NOT NULL "
                    "FROM information_schema.columns WHERE table_name = $1",
                    table,
                )
                if _fits(table, {row[0]: row[1] for row in found}):
                    await connection.execute(sql, *params)
            for _, sql in indexes:
                await connection.execute(sql)
        await connection.execute("VACUUM ANALYZE")  # as autovacuum would have, long before a million users
    finally:
        await connection.close()


async def pg_template(server_url: str, population: Population, log: Any = print) -> str:
    """The name of the cached template database for a population on this server, built first if needed."""
    name = f"tpl_{population.key()}".replace("-", "_").lower()
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        names = {row[0] for row in await admin.fetch("SELECT datname FROM pg_database")}
        if name in names:
            return name
        for stale in names:
            parts = stale.split("_")
            if parts[0] == "building" or (parts[0] == "tpl" and _outdated(parts[1:])):
                await admin.execute(f'DROP DATABASE "{stale}" WITH (FORCE)')
        started = time.perf_counter()
        building = "building" + name.removeprefix("tpl")
        await admin.execute(f'CREATE DATABASE "{building}"')
        url = database_url(server_url, building)
        await _migrate(url)
        await _fill_pg(url, population)
        await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        log(f"built PostgreSQL {name} in {time.perf_counter() - started:.1f} s")
        return name
    finally:
        await admin.close()


async def pg_copy(server_url: str, template: str, name: str) -> str:
    """A working copy of a template database (CREATE DATABASE ... TEMPLATE); returns its async URL."""
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return database_url(server_url, name)


async def pg_drop(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
