"""Claims with months of history behind them: the same population with and without history rows.

Two databases of the same users (seed.Population with `history` = 0 and, say, 3,000,000: sent
outbox rows, processed updates and handled prompts in equal thirds). In each, `pending` outbox rows
are queued (as the turns of a morning burst leave them), then timed, interleaved:
- outbox claim: `storage.outbox.claim(OUTBOX_CLAIM, now)`, one claim after another until the
  pending rows are used up (each claim is the dispatcher's, oldest first), alternating between the
  two databases, both open at once, so a burst of load on the machine falls on both;
- due selection: `storage.due_prompts(now, 200)` (the dispatcher's batch) with the population's due
  prompts due, read only.
The figure is the median claim (or selection) time with history over the one without.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable
from typing import Any

import asyncpg
from sqlalchemy import text

from hipcoach.bot.bootstrap import Database
from hipcoach.bot.delivery.dispatcher import OUTBOX_CLAIM
from hipcoach.bot.storage.port import Queued
from tests.bench import bots, seed
from tests.bench.figures import Figure, ratios

SELECT_BATCH = 200


def queue_sql(dialect: str, pending: int, users: int) -> str:
    """Pending outbox rows for `pending` users, newer than all history, in one statement."""
    payload = '\'[{"text": "Time for your session", "buttons": []}]\''
    if dialect == "sqlite":
        now = f"'{seed.TURN_NOW.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
        return (
            f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {pending}) "
            f"INSERT INTO outbox (user_id, payload, created_at, status, attempts) "
            f"SELECT ((n - 1) % {users}) + 1, {payload}, {now}, 'pending', 0 FROM seq"
        )
    moment = f"timestamptz '{seed.TURN_NOW.isoformat()}'"
    return (
        f"INSERT INTO outbox (user_id, payload, created_at, status, attempts) "
        f"SELECT ((n - 1) % {users}) + 1, {payload}::json, {moment}, 'pending', 0 "
        f"FROM generate_series(1, {pending}) AS n"
    )


async def prepared(url: str, plan: Any, claims: int) -> Database:
    """The database opened as the coach opens it, with `claims` claims' worth of pending outbox rows."""
    _coach, database = await bots.coach_on(url, bots.Clock(seed.TURN_NOW))
    async with database.engine.begin() as connection:
        dialect = connection.dialect.name
        await connection.execute(text(queue_sql(dialect, claims * OUTBOX_CLAIM, plan.history_users)))
    if dialect == "postgresql":
        raw = await asyncpg.connect(seed.asyncpg_dsn(url))
        try:
            await raw.execute("ANALYZE outbox")  # as autovacuum would after a burst
        finally:
            await raw.close()
    return database


async def timed(action: Awaitable[object]) -> tuple[float, object]:
    """Milliseconds the awaited call took, and its result."""
    started = time.perf_counter()
    result = await action
    return (time.perf_counter() - started) * 1000, result


async def claim_and_select(urls: dict[str, str], plan: Any) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per outbox claim and per due selection, alternating between the databases."""
    now = seed.due_clock(plan.due)
    claims = max(2, plan.history_pending // OUTBOX_CLAIM)
    databases = {name: await prepared(url, plan, claims) for name, url in urls.items()}
    timings: dict[str, dict[str, list[float]]] = {name: {"claim": [], "select": []} for name in urls}
    held: dict[str, list[Queued]] = {name: [] for name in urls}
    order = list(urls)
    try:
        for _ in range(claims):
            order.reverse()  # neither database always goes first
            for name in order:
                outbox = databases[name].storage.outbox
                ms, claimed = await timed(outbox.claim(OUTBOX_CLAIM, now))
                assert isinstance(claimed, list) and len(claimed) == OUTBOX_CLAIM, name
                timings[name]["claim"].append(ms)
                held[name] += claimed
        for _ in range(plan.history_selects):
            order.reverse()
            for name in order:
                storage = databases[name].storage
                ms, ids = await timed(storage.due_prompts(now, SELECT_BATCH))
                assert isinstance(ids, list) and len(ids) == min(SELECT_BATCH, plan.due), name
                timings[name]["select"].append(ms)
    finally:
        for name, database in databases.items():
            # Settled, untimed, so that no claim is left held (and heartbeaten) when the storage closes.
            outbox = database.storage.outbox
            await asyncio.gather(*(outbox.done(row.id, now, True, 1) for row in held[name]))
            await database.close()
    return timings


async def bench_history(plan: Any, work: Any, engine: str, postgres: str | None, log: Any) -> list[Figure]:
    populations = {
        "none": seed.Population(plan.history_users, plan.due, 0),
        "history": seed.Population(plan.history_users, plan.due, plan.history),
    }
    results: dict[str, dict[str, list[float]]] = {name: {"claim": [], "select": []} for name in populations}
    for _run in range(plan.history_runs):
        urls = {}
        for name, population in populations.items():
            if engine == "sqlite":
                urls[name] = seed.sqlite_copy(seed.sqlite_template(population, log), work, f"history-{name}")
            else:
                assert postgres is not None
                template = await seed.pg_template(postgres, population, log)
                urls[name] = await seed.pg_copy(postgres, template, f"work_history_{name}_{os.getpid()}")
        timings = await claim_and_select(urls, plan)
        for name in populations:
            for kind in ("claim", "select"):
                results[name][kind].append(statistics.median(timings[name][kind]))
            if engine == "postgresql" and postgres is not None:
                await seed.pg_drop(postgres, f"work_history_{name}_{os.getpid()}")
            else:
                for leftover in work.glob(f"history-{name}.db*"):
                    leftover.unlink(missing_ok=True)
    ms = {
        name: {kind: round(statistics.median(v), 2) for kind, v in kinds.items()}
        for name, kinds in results.items()
    }
    log(f"history {engine}: ms {ms}")
    size = f"{plan.history:,} history rows"
    return [
        Figure(
            f"outbox_claim_history_ratio_{engine}",
            ratios(results["history"]["claim"], results["none"]["claim"]),
            1.5,
            note=f"claims of {OUTBOX_CLAIM} through ~{plan.history_pending:,} pending outbox rows, {size} "
            f"({ms['history']['claim']} ms) over none ({ms['none']['claim']} ms), "
            f"{plan.history_users:,} users",
            peers=f"{ms['history']['claim']} vs {ms['none']['claim']} ms",
            extra={"claim_ms": {name: ms[name]["claim"] for name in ms}},
        ),
        Figure(
            f"due_select_history_ratio_{engine}",
            ratios(results["history"]["select"], results["none"]["select"]),
            1.5,
            note=f"selecting {SELECT_BATCH} due prompts with {size} ({ms['history']['select']} ms) over none "
            f"({ms['none']['select']} ms)",
            peers=f"{ms['history']['select']} vs {ms['none']['select']} ms",
            extra={"select_ms": {name: ms[name]["select"] for name in ms}},
        ),
    ]
