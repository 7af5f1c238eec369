"""The check-in turn: its CPU against the raw floor of its own SQL and against peer bots; users scale.

Every turn is a typed check-in ("pain 2, about right, smooth") fed to `Application.process_update`
and followed until its replies reach the fake Bot API (no round trip, rate limits lifted: the turn,
not the 30/s budget, is measured). CPU is the process's (`time.process_time`: the event loop and
every thread, SQLite's writer included; PostgreSQL's server is another process and not counted,
on either side of the ratio).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from telegram.ext import PicklePersistence

from hipcoach.bot.bootstrap import Database
from tests.bench import bots, peers, seed
from tests.bench.figures import Figure, ratios
from tests.bench.sql_floor import Recording, recording, replay_asyncpg, replay_sqlite

Log = Callable[[str], None]


def timed_runs(runs: int) -> Iterator[tuple[int, bool]]:
    """Run indexes with a warm-up run first: (index, recorded)."""
    for index in range(runs + 1):
        gc.collect()
        yield index, index > 0


def engines_of(database: Database) -> list[Engine]:
    """The engines a turn's SQL runs on: the async engine's, and SQLite's writer-thread engine if any."""
    found = [database.engine.sync_engine]
    writer = getattr(getattr(database.storage, "transactions", None), "writer", None)
    if writer is not None:
        found.append(writer.engine)
    return found


async def cpu_per_turn(running: bots.Running, users: list[int], replies: int, after: Any = None) -> float:
    """Process CPU milliseconds per check-in over these users' turns."""
    started = time.process_time()
    for user_id in users:
        await bots.turn(running, user_id, seed.CHECKIN_TEXT, replies, after=after)
    return (time.process_time() - started) * 1000 / len(users)


async def record_turns(url: str, users: list[int]) -> tuple[Recording, int]:
    """The SQL of these users' check-ins on a fresh copy (one warm-up turn first, marked off)."""
    running = await bots.real_bot(url, bots.Clock(seed.TURN_NOW))
    try:
        running.api.unchecked()
        assert running.bot is not None
        with recording(engines_of(running.bot.database)) as found:
            replies = await bots.settled_replies(running, users[0], seed.CHECKIN_TEXT)
            await asyncio.sleep(0.05)  # the last part's sent mark
            found.mark()
            for user_id in users[1:]:
                await bots.turn(running, user_id, seed.CHECKIN_TEXT, replies)
            await asyncio.sleep(0.05)
        return found, replies
    finally:
        await running.close()


async def bench_turn_cpu(plan: Any, work: Path, engine: str, postgres: str | None, log: Log) -> list[Figure]:
    """Check-in CPU against the replayed floor of the same SQL and the in-memory ConversationHandler."""
    per_run, runs = plan.turns_per_run, plan.runs
    population = plan.small_turn
    users = population.checkin_users((runs + 1) * per_run + 1, seed=3)
    recorded_users = population.checkin_users(per_run + 1, seed=5)
    copies = 0

    async def fresh(name: str) -> str:
        nonlocal copies
        copies += 1
        if engine == "sqlite":
            return seed.sqlite_copy(seed.sqlite_template(population, log), work, f"{name}-{copies}")
        assert postgres is not None
        template = await seed.pg_template(postgres, population, log)
        return await seed.pg_copy(postgres, template, f"work_cpu_{name}_{copies}_{os.getpid()}")

    async def floor(found: Recording) -> float:
        url = await fresh("floor")
        if engine == "sqlite":
            path = url.removeprefix("sqlite+aiosqlite:///")
            cpu = await asyncio.to_thread(replay_sqlite, path, found, found.marks[0])
            for leftover in work.glob(Path(path).name + "*"):
                leftover.unlink(missing_ok=True)
        else:
            cpu = await replay_asyncpg(seed.asyncpg_dsn(url), found, found.marks[0])
            assert postgres is not None
            await seed.pg_drop(postgres, url.rsplit("/", 1)[-1])
        return cpu * 1000 / (len(recorded_users) - 1)

    found, replies = await record_turns(await fresh("record"), recorded_users)
    log(
        f"cpu {engine}: a check-in runs {found.statements / per_run:.1f} statements in "
        f"{found.commits / per_run:.1f} commits; {replies} replies"
    )
    app = await bots.real_bot(await fresh("app"), bots.Clock(seed.TURN_NOW))
    peer = await peers.checkin_bot(replies)
    result: dict[str, list[float]] = {"app": [], "floor": [], "peer": []}
    try:
        for running in (app, peer):
            await bots.settled_replies(running, users[-1], seed.CHECKIN_TEXT)
            running.api.unchecked()
        for index, recorded in timed_runs(runs):
            chunk = users[index * per_run : (index + 1) * per_run]
            app_ms = await cpu_per_turn(app, chunk, replies)
            peer_ms = await cpu_per_turn(peer, chunk, replies)
            floor_ms = await floor(found)
            if recorded:
                result["app"].append(app_ms)
                result["peer"].append(peer_ms)
                result["floor"].append(floor_ms)
    finally:
        await app.close()
        await peer.close()
        if engine == "postgresql" and postgres is not None:
            for number in range(1, copies + 1):
                for name in ("record", "app"):
                    await seed.pg_drop(postgres, f"work_cpu_{name}_{number}_{os.getpid()}")
    ms = {name: round(statistics.median(values), 3) for name, values in result.items()}
    log(f"cpu {engine}: median CPU ms per check-in {ms}")
    driver = "sqlite3" if engine == "sqlite" else "asyncpg"
    shape = f"{found.statements / per_run:.0f} statements, {found.commits / per_run:.0f} commits a turn"
    return [
        Figure(
            f"turn_cpu_floor_ratio_{engine}",
            ratios(result["app"], result["floor"]),
            3.0,
            note=f"CPU per check-in through the application ({ms['app']} ms, {engine}) over the same "
            f"SQL replayed with raw {driver} ({ms['floor']} ms; {shape})",
            peers=f"app {ms['app']} ms, raw {driver} {ms['floor']} ms CPU",
            extra={"turn_cpu_ms": ms["app"], "floor_cpu_ms": ms["floor"], "statements": found.statements},
        ),
        Figure(
            f"turn_cpu_peer_ratio_{engine}",
            ratios(result["app"], result["peer"]),
            3.0,
            note=f"the same turn's CPU over an in-memory ConversationHandler check-in bot ({ms['peer']} ms, "
            f"{replies} replies too, same harness)",
            peers=f"app {ms['app']} ms, ConversationHandler {ms['peer']} ms CPU",
            extra={"turn_cpu_ms": ms["app"], "peer_cpu_ms": ms["peer"]},
        ),
    ]


# ---------------------------------------------------------------- pickle peers


async def _pickle_runs(
    running: bots.PickleBot, users: Iterator[int], count: int, runs: int, after_each: bool
) -> list[float]:
    """CPU ms per check-in; flushed after each update, or once after `count` of them (PTB's defaults:
    the application writes every changed user when its update_interval comes round)."""
    result = []
    for _index, recorded in timed_runs(runs):
        chunk = [next(users) for _ in range(count)]
        started = time.process_time()
        for user_id in chunk:
            await bots.turn(
                running, user_id, seed.CHECKIN_TEXT, 3, after=running.commit if after_each else None
            )
        if not after_each:
            await running.application.update_persistence()
        if recorded:
            result.append((time.process_time() - started) * 1000 / count)
    return result


async def bench_pickle(plan: Any, work: Path, log: Log) -> list[Figure]:
    sizes = {"1k": plan.small_turn_users, "large": plan.large_users}
    figures = []
    for label, users in sizes.items():
        cached = seed.cache_dir() / f"pickle-checkin-{users}-v1.pickle"
        if not cached.exists():
            started = time.perf_counter()
            peers.checkin_template(cached, users)
            log(f"built {cached.name} in {time.perf_counter() - started:.1f} s")
        count = plan.turns_per_run if label == "1k" else plan.pickle_large_turns
        for mode, after_each in (("flushed", True), ("defaults", False)):
            path = work / f"pickle-{label}-{mode}.pickle"
            path.write_bytes(cached.read_bytes())
            persistence = PicklePersistence(path, on_flush=after_each)  # else PTB's defaults
            running = await peers.checkin_bot(3, persistence)
            try:
                ids = iter(range(1, users + 1))
                runs = await _pickle_runs(running, ids, count, plan.pickle_runs, after_each)
            finally:
                await running.close()
                path.unlink(missing_ok=True)
            what = (
                "flushed after every update"
                if after_each
                else f"PTB's defaults, its periodic write shared over {count} check-ins"
            )
            figures.append(
                Figure(
                    f"pickle_{mode}_ms_{label}",
                    runs,
                    unit="ms",
                    note=f"peer: ConversationHandler + PicklePersistence, {users:,} users, {what}; CPU "
                    "per check-in (no target)",
                )
            )
            log(f"pickle {mode} {label}: {statistics.median(runs):.2f} ms CPU per check-in")
    return figures


# ---------------------------------------------------------------- users scale


async def allocation_peak_kb(running: bots.Running, users: list[int], replies: int) -> list[float]:
    """tracemalloc's peak during each of these turns, in KiB above what was allocated before it."""
    peaks = []
    tracemalloc.start()
    try:
        for user_id in users:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            await bots.turn(running, user_id, seed.CHECKIN_TEXT, replies)
            peaks.append((tracemalloc.get_traced_memory()[1] - before) / 1024)
    finally:
        tracemalloc.stop()
    return peaks


async def bench_scale(plan: Any, work: Path, log: Log) -> list[Figure]:
    """A check-in with the large population stored against 1,000 (wall time, turns alternated; SQLite)."""
    per_run = plan.turns_per_run
    needed = (plan.runs + 1) * per_run + 1
    populations = {"small": plan.small_turn, "large": plan.large}
    runners: dict[str, bots.Running] = {}
    users = {}
    try:
        for name, population in populations.items():
            url = seed.sqlite_copy(seed.sqlite_template(population, log), work, f"scale-{name}")
            runners[name] = await bots.real_bot(url, bots.Clock(seed.TURN_NOW))
            users[name] = population.checkin_users(needed + 20, seed=1)
        replies = {}
        for name, running in runners.items():
            replies[name] = await bots.settled_replies(running, users[name].pop(), seed.CHECKIN_TEXT)
            running.api.unchecked()
        per_turn: dict[str, list[float]] = {name: [] for name in runners}
        order = list(runners)
        for index, recorded in timed_runs(plan.runs):
            spent = dict.fromkeys(runners, 0.0)
            for offset in range(per_run):  # turn by turn, alternating: load falls on both sizes
                order.reverse()
                for name in order:
                    started = time.perf_counter()
                    user_id = users[name][index * per_run + offset]
                    await bots.turn(runners[name], user_id, seed.CHECKIN_TEXT, replies[name])
                    spent[name] += time.perf_counter() - started
            if recorded:
                for name, seconds in spent.items():
                    per_turn[name].append(seconds * 1000 / per_run)
        peaks = await allocation_peak_kb(runners["large"], users["large"][-20:], replies["large"])
    finally:
        for running in runners.values():
            await running.close()
    ms = {name: round(statistics.median(values), 2) for name, values in per_turn.items()}
    log(f"scale: ms per check-in {ms}; allocation peak {statistics.median(peaks):.0f} KiB")
    return [
        Figure(
            "users_scale_ratio",
            ratios(per_turn["large"], per_turn["small"]),
            1.2,
            note=f"a check-in's wall time at {plan.large_users:,} stored users ({ms['large']} ms) over "
            f"{plan.small_turn_users:,} ({ms['small']} ms), SQLite",
            peers=f"{ms['large']} vs {ms['small']} ms",
            extra={"large_ms": ms["large"], "small_ms": ms["small"]},
        ),
        Figure(
            "turn_alloc_peak_kb",
            peaks,
            unit="KiB",
            note=f"tracemalloc peak during one check-in at {plan.large_users:,} users (reported; no target)",
        ),
    ]
