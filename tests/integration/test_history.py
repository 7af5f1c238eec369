"""History with a lifetime: old bookkeeping goes in bounded batches, and claims read past none of it.

The pruning promises run on the fake, SQLite and PostgreSQL alike. The query plans are read on both
databases with history seeded: the outbox claim and the due selection go through partial indexes that
hold only what they look for, so what they read does not grow with the rows already sent or handled.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, insert, inspect
from sqlalchemy.engine import Engine

from hipcoach.bot.coach import Coach
from hipcoach.bot.delivery.dispatcher import Dispatcher
from hipcoach.bot.storage.db import alembic_config, make_engine, upgrade
from hipcoach.bot.storage.history import HANDLED_LIFETIME, SENT_LIFETIME
from hipcoach.bot.storage.models import Outbox, ProcessedUpdate, Prompt, User
from hipcoach.bot.storage.port import REDELIVERY_WINDOW, Reports, Storage
from hipcoach.bot.storage.sql import SqlStorage
from tests.fake_storage import FakeStorage
from tests.fakes import CollectingSender, FakeClock
from tests.integration.ports import KINDS, ports
from tests.postgres import only_postgresql

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
USER = 1
SECOND = timedelta(seconds=1)
PAYLOAD = [{"text": "hello", "buttons": []}]
MODELS = {"users": User, "processed_updates": ProcessedUpdate, "outbox": Outbox, "prompts": Prompt}


@dataclass
class Port:
    storage: Storage
    reports: Reports

    async def seed(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Rows as they would have been written, at the times given."""
        if isinstance(self.storage, FakeStorage):
            for row in rows:
                if table == "users":
                    self.storage.tables.users[row["id"]] = row
                else:
                    self.storage.tables.add(table, **row)
            return
        assert isinstance(self.storage, SqlStorage)
        await _insert(self.storage, MODELS[table], rows)

    async def remaining(self, table: str) -> list[dict[str, Any]]:
        return (await self.reports.rows_about(USER))[table]


async def _insert(storage: SqlStorage, model: Any, rows: list[dict[str, Any]]) -> None:
    async with storage.engine.begin() as connection:
        await connection.execute(insert(model), rows)


@pytest.fixture(params=KINDS)
async def port(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Port]:
    async with ports(request, tmp_path) as (storage, reports):
        port = Port(storage, reports)
        await port.seed("users", [_user()])
        yield port


def _user() -> dict[str, Any]:
    return {"id": USER, "created_at": NOW, "last_seen_at": NOW, "consented_at": None, "active": True}


def update(update_id: int, processed_at: datetime) -> dict[str, Any]:
    return {"update_id": update_id, "user_id": USER, "processed_at": processed_at}


def outbox(status: str, at: datetime) -> dict[str, Any]:
    sent = status == "sent"
    return {
        "user_id": USER,
        "payload": PAYLOAD,
        "created_at": at,
        "status": status,
        "attempts": 5 if status == "failed" else 0,
        "sent_at": at if sent else None,
        "claimed_at": at if status == "sending" else None,
        "parts_done": 1 if sent else 0,
        "part_in_flight": None,
        "unconfirmed": 0,
    }


def prompt(status: str, at: datetime, kind: str = "session") -> dict[str, Any]:
    handled = None if status == "pending" else at
    return {"user_id": USER, "kind": kind, "due_at": at, "status": status, "handled_at": handled}


async def test_history_past_its_lifetime_goes_and_everything_younger_or_still_open_stays(port):
    old_update, young_update = NOW - REDELIVERY_WINDOW - SECOND, NOW - REDELIVERY_WINDOW
    await port.seed("processed_updates", [update(1, old_update), update(2, young_update)])
    old_sent, young_sent, long_ago = (
        NOW - SENT_LIFETIME - SECOND,
        NOW - SENT_LIFETIME,
        NOW - 10 * HANDLED_LIFETIME,
    )
    await port.seed(
        "outbox",
        [
            outbox("sent", old_sent),
            outbox("sent", young_sent),
            outbox("pending", long_ago),
            outbox("sending", long_ago),
            outbox("failed", long_ago),
        ],
    )
    old_handled, young_handled = NOW - HANDLED_LIFETIME - SECOND, NOW - HANDLED_LIFETIME
    await port.seed(
        "prompts",
        [
            prompt("sent", old_handled),
            prompt("skipped", old_handled),
            prompt("sent", young_handled),
            prompt("skipped", young_handled),
            prompt("pending", long_ago),
        ],
    )

    pruned = await port.storage.prune_history(NOW, batch=1_000)

    assert pruned == {"processed_updates": 1, "outbox": 1, "prompts": 2}
    assert [r["update_id"] for r in await port.remaining("processed_updates")] == [2]
    kept_outbox = [(r["status"], r["sent_at"] or r["created_at"]) for r in await port.remaining("outbox")]
    assert kept_outbox == [
        ("sent", young_sent),
        ("pending", long_ago),
        ("sending", long_ago),
        ("failed", long_ago),
    ]
    kept_prompts = [(r["status"], r["due_at"]) for r in await port.remaining("prompts")]
    assert kept_prompts == [("sent", young_handled), ("skipped", young_handled), ("pending", long_ago)]


async def test_an_update_redelivered_within_the_window_is_still_recognised_after_a_sweep(port):
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(USER, 77)
        await work.record_update(USER, 77)
        await work.commit()

    await port.storage.prune_history(NOW + REDELIVERY_WINDOW, batch=1_000)
    assert await seen(port.storage, NOW + REDELIVERY_WINDOW, 77)

    await port.storage.prune_history(NOW + REDELIVERY_WINDOW + SECOND, batch=1_000)
    assert not await seen(port.storage, NOW + REDELIVERY_WINDOW + SECOND, 77)


async def seen(storage: Storage, now: datetime, update_id: int) -> bool:
    async with storage.unit_of_work(now) as work:
        await work.open_user(USER, update_id)
        return await work.seen_update(update_id)


async def test_a_sweep_deletes_at_most_a_batch_of_each_kind_and_the_oldest_first(port):
    long_ago = NOW - 10 * HANDLED_LIFETIME
    await port.seed("processed_updates", [update(i, long_ago + i * SECOND) for i in (3, 1, 5, 2, 4)])
    await port.seed("outbox", [outbox("sent", long_ago + i * SECOND) for i in (3, 1, 2)])
    await port.seed("prompts", [prompt("skipped", long_ago + i * SECOND) for i in (2, 1)])

    pruned = await port.storage.prune_history(NOW, batch=2)

    assert pruned == {"processed_updates": 2, "outbox": 2, "prompts": 2}
    assert sorted(r["update_id"] for r in await port.remaining("processed_updates")) == [3, 4, 5]
    assert [r["sent_at"] for r in await port.remaining("outbox")] == [long_ago + 3 * SECOND]
    assert await port.remaining("prompts") == []


async def test_a_dispatcher_round_prunes_a_bounded_number_of_batches_and_the_next_round_goes_on(
    port, content
):
    await port.seed("processed_updates", [update(i, NOW - 2 * REDELIVERY_WINDOW) for i in range(25)])
    coach = Coach(port.storage, port.reports, content, FakeClock(NOW))
    dispatcher = Dispatcher(coach, port.storage, CollectingSender(), coach.clock)

    left = []
    for _ in range(3):
        await dispatcher.prune(batch=5, batches=2)
        left.append(len(await port.remaining("processed_updates")))

    assert left == [15, 5, 0]


async def test_a_round_stops_pruning_once_a_batch_comes_back_short(port, content):
    await port.seed("processed_updates", [update(i, NOW - 2 * REDELIVERY_WINDOW) for i in range(7)])
    coach = Coach(port.storage, port.reports, content, FakeClock(NOW))
    dispatcher = Dispatcher(coach, port.storage, CollectingSender(), coach.clock)
    batches = CountingBatches(port.storage)
    dispatcher.storage = batches  # type: ignore[assignment]

    await dispatcher.prune(batch=5, batches=10)

    assert batches.calls == 2
    assert await port.remaining("processed_updates") == []


class CountingBatches:
    """The storage, counting the history batches asked of it."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.calls = 0

    async def prune_history(self, now: datetime, batch: int) -> dict[str, int]:
        self.calls += 1
        return await self.storage.prune_history(now, batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


# The plans: history seeded, statistics taken, then the statements the storage really runs explained.

HISTORY = 5_000  # sent rows and handled prompts, all the first user's: far more than the open ones
OPEN = 50  # pending outbox rows and pending prompts, one a user


async def seed_history(storage: SqlStorage) -> None:
    long_ago = NOW - timedelta(days=400)
    users = range(USER, USER + OPEN)
    await _insert(storage, User, [{**_user(), "id": user_id} for user_id in users])
    await _insert(storage, Outbox, [outbox("sent", long_ago + i * SECOND) for i in range(HISTORY)])
    await _insert(storage, Outbox, [{**outbox("pending", NOW), "user_id": user_id} for user_id in users])
    await _insert(storage, Prompt, [prompt("sent", long_ago + i * SECOND) for i in range(HISTORY)])
    await _insert(storage, Prompt, [{**prompt("pending", NOW), "user_id": user_id} for user_id in users])
    await _insert(storage, ProcessedUpdate, [update(i, long_ago + i * SECOND) for i in range(HISTORY)])
    async with storage.engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")


@dataclass(frozen=True)
class Ran:
    statement: str
    parameters: Any


@contextmanager
def statements_on(table: str) -> Iterator[list[Ran]]:
    """Every statement reading `table` with a limit, as the driver received it, on any engine."""
    ran: list[Ran] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if re.search(rf"\bFROM {table}\b", statement) and "LIMIT" in statement:
            ran.append(Ran(statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield ran
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def sqlite_plan(storage: SqlStorage, ran: Ran) -> list[str]:
    async with storage.engine.connect() as connection:
        result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {ran.statement}", ran.parameters)
        return [row[-1] for row in result.all()]


async def postgresql_plans(storage: SqlStorage, ran: Ran) -> list[dict[str, Any]]:
    """The plans as run (EXPLAIN ANALYZE, rolled back): the one the driver gets first, and the generic
    one a statement prepared once and run again and again may get (made without its parameters)."""
    analyze = "EXPLAIN (ANALYZE, FORMAT JSON)"
    arguments = ", ".join(_sql_literal(value) for value in ran.parameters)
    async with storage.engine.connect() as connection:
        first = (await connection.exec_driver_sql(f"{analyze} {ran.statement}", ran.parameters)).scalar_one()
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        await connection.exec_driver_sql(f"PREPARE ran AS {ran.statement}")
        execute = f"EXECUTE ran({arguments})" if arguments else "EXECUTE ran"
        generic = (await connection.exec_driver_sql(f"{analyze} {execute}")).scalar_one()
        await connection.rollback()
    return [(json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"] for plan in (first, generic)]


def _sql_literal(value: Any) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


def rows_read(scan: dict[str, Any]) -> float:
    """The rows a scan node read in one of its loops, kept or filtered out (EXPLAIN gives both a loop)."""
    return scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def assert_read_through(
    storage: SqlStorage, ran: list[Ran], table: str, *partial: str, generic: bool = True
) -> None:
    """Each statement reads `table` through these partial indexes alone (the first among them):
    no full scan, no sort, and (PostgreSQL, as run) not one row of the history read.

    A statement can only if its WHERE states the index's condition with the statuses written into the
    SQL, as `unsent` and `pending_prompts` of bot/storage/models.py do. `generic`: PostgreSQL's generic
    plan as well, the one a statement prepared once and run again and again may be given."""
    assert ran, f"no statement on {table} was seen"
    for statement in ran:
        if storage.engine.dialect.name == "sqlite":
            plan = await sqlite_plan(storage, statement)
            assert partial[0] in plan[0], plan
            reads = [line for line in plan if re.match(r"(SCAN|SEARCH) ", line)]
            assert all(any(index in line for index in partial) for line in reads), plan
            assert not any("TEMP B-TREE" in line for line in plan), plan  # nothing sorted
            continue
        first, generic_plan = await postgresql_plans(storage, statement)
        for plan in (first, generic_plan) if generic else (first,):
            scans = [node for node in nodes(plan) if node.get("Relation Name") == table]
            assert scans[0].get("Index Name") == partial[0], plan
            assert all(node.get("Index Name") in partial for node in scans), plan
            assert not any(node["Node Type"] in ("Sort", "Seq Scan") for node in nodes(plan)), plan
            # Each pass over an index reads open rows only: never one of the history's.
            assert all(rows_read(scan) <= OPEN for scan in scans), plan


async def test_the_outbox_claim_reads_unsent_rows_through_their_partial_indexes_whatever_was_sent(storage):
    await seed_history(storage)
    with statements_on("outbox") as ran:
        claimed = await storage.outbox.claim(20, NOW)
    assert len(claimed) == 20
    await assert_read_through(storage, ran, "outbox", "ix_outbox_unsent", "ix_outbox_unsent_user")


async def test_due_selection_reads_pending_prompts_through_their_partial_index_whatever_was_handled(
    storage,
):
    await seed_history(storage)
    with statements_on("prompts") as ran:
        due = await storage.due_prompts(NOW, 20)
    assert len(due) == 20
    await assert_read_through(storage, ran, "prompts", "ix_prompts_pending_due_at", generic=False)


@only_postgresql
async def test_due_selection_keeps_its_partial_index_when_postgresql_plans_it_once_for_all(storage):
    await seed_history(storage)
    with statements_on("prompts") as ran:
        await storage.due_prompts(NOW, 20)
    await assert_read_through(storage, ran, "prompts", "ix_prompts_pending_due_at")


@pytest.mark.parametrize(
    ("table", "index"),
    [
        ("outbox", "ix_outbox_sent_at"),
        ("prompts", "ix_prompts_handled_at"),
        ("processed_updates", "ix_processed_updates_processed_at"),
    ],
)
async def test_the_sweep_finds_old_rows_through_their_index(storage, table, index):
    await seed_history(storage)
    with statements_on(table) as ran:
        await storage.prune_history(NOW - timedelta(days=1000), batch=20)  # nothing that old: nothing goes
    assert len(ran) == 1
    plan = await explain_any(storage, ran[0])
    assert index in plan, plan
    assert f"Seq Scan on {table}" not in plan and not re.search(rf"SCAN {table}\b(?! USING)", plan), plan


async def explain_any(storage: SqlStorage, ran: Ran) -> str:
    if storage.engine.dialect.name == "sqlite":
        return "\n".join(await sqlite_plan(storage, ran))
    async with storage.engine.connect() as connection:
        rows = (await connection.exec_driver_sql(f"EXPLAIN {ran.statement}", ran.parameters)).all()
    return "\n".join(row[0] for row in rows)


async def test_migration_0014_goes_down_to_the_full_indexes_and_up_again(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        assert "ix_outbox_unsent" in await index_names(engine, "outbox")
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "0013"))
        assert await index_names(engine, "outbox") >= {"ix_outbox_status_id"}
        assert "ix_outbox_unsent" not in await index_names(engine, "outbox")
        assert "ix_prompts_status_due_at" in await index_names(engine, "prompts")
        await upgrade(engine)
        assert await index_names(engine, "prompts") >= {"ix_prompts_pending_due_at", "ix_prompts_handled_at"}
        assert "ix_prompts_status_due_at" not in await index_names(engine, "prompts")
    finally:
        await engine.dispose()


async def index_names(engine: Any, table: str) -> set[str]:
    async with engine.connect() as connection:
        indexes = await connection.run_sync(lambda c: inspect(c).get_indexes(table))
    return {index["name"] for index in indexes}
