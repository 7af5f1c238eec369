"""Hip Coach benchmarks: is our own code ever the bottleneck? `python tests/bench/run.py [--quick] [--json]`

Measures, in one run on this machine, each figure as the median over repeated runs with its spread:

turn_ratio         a check-in typed as one sentence, through the real application, adapter, coach and
                   SqlStorage (SQLite) to the replies recorded by the offline Bot API, against a bare
                   python-telegram-bot echo handler on the same offline harness (time per turn);
                   rate limiters lifted. turn_headroom: what that turn time allows, over 30 messages/s.
users_scale_ratio  the same turn with the large population stored against the small one (SQLite).
pickle_scale_ratio the same two sizes for a ConversationHandler + PicklePersistence bot answering the
                   first onboarding question, persisted after every turn as our commit is.
due_select_ratio   selecting and claiming 1,000 due prompts (due_prompts, then Coach.handle_prompt for
                   each: claim, turn, outbox row, commit) among the large population against the
                   10,000 one; SQLite and PostgreSQL. prune_ratio: the round's retention sweep, likewise.
dispatch_per_s     prompts per second through Dispatcher.run_due and the application's sender, limits
                   lifted.
limit_use          the real limiters of build_application (AIORateLimiter and the send-slot limiter):
                   messages per second achieved over a window of prompts all due at once (60 s of them
                   in the full run), as a share of 30/s, in real time (nothing simulated);
limit_exceeded     wall-clock seconds of that window in which more than 30 messages went out.
rss_ratio          resident memory of a bot process (tests/bench/rss_probe.py) after serving check-ins,
                   large population against small.

Databases are generated in SQL and cached (see seed.py); every run works on copies.
Needs the test extra; `--profile PHASE` needs the bench extra (pyinstrument).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # import as tests.bench.*, never shadowing installed modules

from hipcoach.bot.delivery.dispatcher import Dispatcher  # noqa: E402
from tests.bench import bots, seed  # noqa: E402
from tests.bench.figures import Figure, machine, ratios, table  # noqa: E402
from tests.fakes import CollectingSender  # noqa: E402

PHASES = ("turns", "pickle", "due", "dispatch", "limit", "rss")
TELEGRAM_LIMIT = 30  # messages per second across chats
RETENTION = timedelta(days=90)


@dataclass(frozen=True)
class Plan:
    quick: bool
    small_turn_users: int = 1_000
    small_due_users: int = 10_000
    large_users: int = 1_000_000
    due: int = 8_000
    runs: int = 7
    prompt_runs: int = 5
    turns_per_run: int = 100
    pickle_large_turns: int = 3
    pickle_runs: int = 5
    claim: int = 1_000
    limit_seconds: int = 60
    limit_runs: int = 3
    limit_runs_postgresql: int = 1
    rss_runs: int = 3
    rss_turns: int = 250

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            large_users=100_000,
            runs=3,
            prompt_runs=2,
            turns_per_run=40,
            pickle_large_turns=4,
            pickle_runs=3,
            limit_seconds=10,
            limit_runs=2,
            rss_runs=2,
            rss_turns=100,
        )

    @property
    def small_turn(self) -> seed.Population:
        return seed.Population(self.small_turn_users, 0)

    @property
    def small_due(self) -> seed.Population:
        return seed.Population(self.small_due_users, self.due)

    @property
    def large(self) -> seed.Population:
        return seed.Population(self.large_users, self.due)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Profiles:
    """pyinstrument around the timed part of the phases named with --profile; text reports saved."""

    def __init__(self, phases: list[str], directory: Path) -> None:
        self.phases = set(phases)
        self.directory = directory
        self.saved: list[Path] = []

    @contextlib.contextmanager
    def around(self, phase: str) -> Iterator[None]:
        if phase not in self.phases:
            yield
            return
        from pyinstrument import Profiler  # the bench extra

        profiler = Profiler(async_mode="enabled", interval=0.0005)
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()
            path = self.directory / f"profile-{phase}.txt"
            path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
            self.saved.append(path)
            log(f"profile of {phase} written to {path}")


class LoadSampler(threading.Thread):
    """The 1-minute load average every 10 s while the benchmark runs: other work on the machine shows."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(10):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self.samples.append(os.getloadavg()[0])
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {"mean": round(statistics.mean(self.samples), 2), "max": round(max(self.samples), 2)}


def timed_runs(runs: int) -> Iterator[tuple[int, bool]]:
    """Run indexes with a warm-up run first: (index, recorded)."""
    for index in range(runs + 1):
        gc.collect()
        yield index, index > 0


# ---------------------------------------------------------------- turns


async def bench_turns(plan: Plan, work: Path, profiles: Profiles) -> list[Figure]:
    small_url = seed.sqlite_copy(seed.sqlite_template(plan.small_turn, log), work, "turn-small")
    large_url = seed.sqlite_copy(seed.sqlite_template(plan.large, log), work, "turn-large")
    clock = bots.Clock(seed.TURN_NOW)
    per_run = plan.turns_per_run
    needed = (plan.runs + 1) * per_run + 1
    echo = await bots.echo_bot()
    small = await bots.real_bot(small_url, clock)
    large = await bots.real_bot(large_url, clock)
    try:
        users = {
            "echo": list(range(1, needed + 1)),
            "small": plan.small_turn.checkin_users(needed, seed=1),
            "large": plan.large.checkin_users(needed, seed=1),
        }
        runners = {"echo": echo, "small": small, "large": large}
        texts = {"echo": "hello", "small": seed.CHECKIN_TEXT, "large": seed.CHECKIN_TEXT}
        replies = {}
        for name, running in runners.items():
            replies[name] = await bots.settled_replies(running, users[name].pop(), texts[name])
            assert not running.api.violations, running.api.violations
            running.api.unchecked()
        log(f"turns: replies per turn {replies}; {plan.runs} runs of {per_run} turns each")
        per_turn: dict[str, list[float]] = {name: [] for name in runners}
        order = list(runners)
        with profiles.around("turns"):
            for index, recorded in timed_runs(plan.runs):
                order = order[1:] + order[:1]  # rotate, so no bot always goes first
                for name in order:
                    chunk = users[name][index * per_run : (index + 1) * per_run]
                    started = time.perf_counter()
                    for user_id in chunk:
                        await bots.turn(runners[name], user_id, texts[name], replies[name])
                    elapsed = (time.perf_counter() - started) / per_run
                    if recorded:
                        per_turn[name].append(elapsed * 1000)
        for running in (small, large):
            assert running.bot is not None
            last = users["small" if running is small else "large"][plan.runs * per_run]
            state = await running.bot.database.storage.load_state(last)
            assert state.name != "checkin_pain", "the check-in turn did not commit"
    finally:
        for running in (echo, small, large):
            await running.close()
    ms = {name: round(statistics.median(values), 3) for name, values in per_turn.items()}
    log(f"turns: median ms per turn {ms}")
    return [
        Figure(
            "turn_ratio",
            ratios(per_turn["small"], per_turn["echo"]),
            2.0,
            note=f"check-in turn {ms['small']} ms ({replies['small']} replies) vs echo {ms['echo']} ms",
            extra={"turn_ms": ms["small"], "echo_ms": ms["echo"], "replies": replies["small"]},
        ),
        Figure(
            "turn_headroom",
            [1000 / value * replies["large"] / TELEGRAM_LIMIT for value in per_turn["large"]],
            note=f"messages/s the turn path alone could answer with (one process, {plan.large_users:,} "
            f"users, {replies['large']} messages a turn) as a multiple of Telegram's 30/s; no target",
        ),
        Figure(
            "users_scale_ratio",
            ratios(per_turn["large"], per_turn["small"]),
            1.2,
            note=f"{ms['large']} ms at {plan.large_users:,} users vs {ms['small']} ms at "
            f"{plan.small_turn_users:,}",
            extra={"large_ms": ms["large"], "small_ms": ms["small"]},
        ),
    ]


async def bench_pickle(plan: Plan, work: Path, profiles: Profiles) -> list[Figure]:
    texts = bots.onboarding_texts()
    sizes = {"small": plan.small_turn_users, "large": plan.large_users}
    counts = {"small": plan.turns_per_run, "large": plan.pickle_large_turns}
    runners = {}
    try:
        for name, users in sizes.items():
            cached = seed.cache_dir() / f"pickle-{users}-v1.pickle"
            if not cached.exists():
                started = time.perf_counter()
                bots.pickle_template(cached, users)
                log(f"built {cached.name} in {time.perf_counter() - started:.1f} s")
            path = work / f"pickle-{name}.pickle"
            path.write_bytes(cached.read_bytes())
            started = time.perf_counter()
            runners[name] = await bots.pickle_bot(path, texts)
            log(f"pickle: {users:,} users loaded in {time.perf_counter() - started:.1f} s")
        per_turn: dict[str, list[float]] = {name: [] for name in runners}
        next_user = dict.fromkeys(runners, 1)
        with profiles.around("pickle"):
            for _index, recorded in timed_runs(plan.pickle_runs):
                for name, running in runners.items():
                    first = next_user[name]
                    next_user[name] += counts[name]
                    started = time.perf_counter()
                    for user_id in range(first, first + counts[name]):
                        await bots.turn(running, user_id, "yes", 1, after=running.commit)
                    if recorded:
                        per_turn[name].append((time.perf_counter() - started) / counts[name] * 1000)
    finally:
        for running in runners.values():
            await running.close()
    ms = {name: round(statistics.median(values), 3) for name, values in per_turn.items()}
    log(f"pickle: median ms per turn {ms}")
    return [
        Figure(
            "pickle_scale_ratio",
            ratios(per_turn["large"], per_turn["small"]),
            note=f"{ms['large']} ms at {plan.large_users:,} users vs {ms['small']} ms at "
            f"{plan.small_turn_users:,} (comparison; no target)",
            extra={"large_ms": ms["large"], "small_ms": ms["small"]},
        )
    ]


# ---------------------------------------------------------------- prompts


async def claim_runs(plan: Plan, urls: dict[str, str], profiles: Profiles, phase: str) -> dict[str, Any]:
    """For each run: make the next 1,000 prompts due, select them, claim each through Coach.handle_prompt."""
    clock = bots.Clock(seed.TURN_NOW)
    built = {name: await bots.coach_on(url, clock) for name, url in urls.items()}
    coaches = {name: coach for name, (coach, _) in built.items()}
    select: dict[str, list[float]] = {name: [] for name in urls}
    claim: dict[str, list[float]] = {name: [] for name in urls}
    try:
        with profiles.around(phase):
            for index, recorded in timed_runs(plan.prompt_runs):
                clock.now = seed.due_clock((index + 1) * plan.claim)
                for name, coach in coaches.items():
                    started = time.perf_counter()
                    ids = await built[name][1].storage.due_prompts(clock(), plan.claim)
                    selected = time.perf_counter()
                    handled = [await coach.handle_prompt(prompt_id) for prompt_id in ids]
                    finished = time.perf_counter()
                    assert len(ids) == plan.claim and all(handled), (name, len(ids), sum(handled))
                    if recorded:
                        select[name].append((selected - started) * 1000)
                        claim[name].append((finished - started) * 1000)
        # The round's other chore when a retention period is set: forget users gone too long (none are).
        prune: dict[str, list[float]] = {name: [] for name in urls}
        with profiles.around(f"prune-{phase}"):
            for _index, recorded in timed_runs(plan.prompt_runs):
                for name, coach in coaches.items():
                    storage = built[name][1].storage
                    dispatcher = Dispatcher(coach, storage, CollectingSender(), clock, retention=RETENTION)
                    started = time.perf_counter()
                    assert await dispatcher.prune() == 0
                    if recorded:
                        prune[name].append((time.perf_counter() - started) * 1000)
    finally:
        for _, database in built.values():
            await database.close()
    return {"select": select, "claim": claim, "prune": prune}


async def bench_due(plan: Plan, work: Path, profiles: Profiles, postgres: str | None) -> list[Figure]:
    figures = []
    urls = {
        "small": seed.sqlite_copy(seed.sqlite_template(plan.small_due, log), work, "due-small"),
        "large": seed.sqlite_copy(seed.sqlite_template(plan.large, log), work, "due-large"),
    }
    engines = {"sqlite": urls}
    if postgres is not None:
        engines["postgresql"] = {
            name: await seed.pg_copy(
                postgres, await seed.pg_template(postgres, population, log), f"work_due_{name}"
            )
            for name, population in (("small", plan.small_due), ("large", plan.large))
        }
    for engine, engine_urls in engines.items():
        log(f"due: {engine}, {plan.prompt_runs} runs of {plan.claim} prompts at each size")
        result = await claim_runs(plan, engine_urls, profiles, f"due-{engine}")
        select, claim = result["select"], result["claim"]
        claim_ms = {name: round(statistics.median(values), 1) for name, values in claim.items()}
        select_ms = {name: round(statistics.median(values), 2) for name, values in select.items()}
        select_ratio = statistics.median(ratios(select["large"], select["small"]))
        log(f"due: {engine} claim ms {claim_ms}, select ms {select_ms}")
        figures.append(
            Figure(
                f"due_select_ratio_{engine}",
                ratios(claim["large"], claim["small"]),
                1.5,
                note=f"select + claim 1,000: {claim_ms['large']} ms among {plan.large_users:,} vs "
                f"{claim_ms['small']} ms among {plan.small_due_users:,}; the select alone "
                f"{select_ms['large']} vs {select_ms['small']} ms (ratio {select_ratio:.2f})",
                extra={
                    "claim_ms": claim_ms,
                    "select_ms": select_ms,
                    "select_only_ratio": round(select_ratio, 3),
                },
            )
        )
        prune_ms = {name: round(statistics.median(values), 2) for name, values in result["prune"].items()}
        log(f"due: {engine} prune ms {prune_ms}")
        figures.append(
            Figure(
                f"prune_ratio_{engine}",
                ratios(result["prune"]["large"], result["prune"]["small"]),
                1.5,
                note=f"Dispatcher.prune with a {RETENTION.days}-day retention, nobody to forget: "
                f"{prune_ms['large']} ms among {plan.large_users:,} vs {prune_ms['small']} ms among "
                f"{plan.small_due_users:,} (our own figure; target as for due_select)",
                extra={"prune_ms": prune_ms},
            )
        )
    if postgres is not None:
        for name in ("small", "large"):
            await seed.pg_drop(postgres, f"work_due_{name}")
    return figures


async def bench_dispatch(plan: Plan, work: Path, profiles: Profiles, postgres: str | None) -> list[Figure]:
    urls = {"sqlite": seed.sqlite_copy(seed.sqlite_template(plan.large, log), work, "dispatch")}
    if postgres is not None:
        template = await seed.pg_template(postgres, plan.large, log)
        urls["postgresql"] = await seed.pg_copy(postgres, template, "work_dispatch")
    rates: dict[str, list[float]] = {}
    for engine, url in urls.items():
        clock = bots.Clock(seed.TURN_NOW)
        running = await bots.real_bot(url, clock)  # the application's own sender, limits lifted
        running.api.unchecked()
        assert running.bot is not None
        dispatcher = running.bot.dispatcher
        rates[engine] = []
        among = f"{plan.claim} prompts among {plan.large_users:,} users"
        log(f"dispatch: {engine}, {plan.prompt_runs} runs of {among}")
        try:
            with profiles.around(f"dispatch-{engine}"):
                for index, recorded in timed_runs(plan.prompt_runs):
                    clock.now = seed.due_clock((index + 1) * plan.claim)
                    started = time.perf_counter()
                    sent = await dispatcher.run_due()
                    elapsed = time.perf_counter() - started
                    assert sent == plan.claim, sent
                    if recorded:
                        rates[engine].append(sent / elapsed)
        finally:
            await running.close()
    if postgres is not None:
        await seed.pg_drop(postgres, "work_dispatch")
    medians = {engine: round(statistics.median(values)) for engine, values in rates.items()}
    log(f"dispatch: prompts/s {medians}")
    figures = [
        Figure(
            "dispatch_per_s",
            rates["sqlite"],
            1000,
            at_most=False,
            unit="/s",
            note=f"SQLite, {plan.large_users:,} users; prompts claimed, turned, committed and sent",
        )
    ]
    if "postgresql" in rates:
        figures.append(
            Figure("dispatch_per_s_postgresql", rates["postgresql"], unit="/s", note="the same on PostgreSQL")
        )
    return figures


def seconds_over(times: list[float], limit: int) -> tuple[int, int]:
    """Clock seconds (UTC, whole) with more than `limit` messages, and the most in any sliding second."""
    buckets: dict[int, int] = {}
    for moment in times:
        buckets[int(moment)] = buckets.get(int(moment), 0) + 1
    busiest, low = 0, 0
    for high, moment in enumerate(times):
        while moment - times[low] >= 1.0:
            low += 1
        busiest = max(busiest, high - low + 1)
    return sum(1 for count in buckets.values() if count > limit), busiest


async def limit_runs(plan: Plan, url: str, runs: int) -> dict[str, list[float]]:
    """Windows of prompts, all due at once, through the real application's sender and limiters."""
    clock = bots.Clock(seed.TURN_NOW)
    running = await bots.real_bot(url, clock, limited=True)
    assert running.bot is not None
    dispatcher = running.bot.dispatcher
    window = TELEGRAM_LIMIT * plan.limit_seconds
    result: dict[str, list[float]] = {"use": [], "exceeded": [], "busiest": []}
    try:
        released = TELEGRAM_LIMIT  # a warm-up second of prompts first
        clock.now = seed.due_clock(released)
        await dispatcher.run_due()
        running.api.unchecked()
        for _ in range(runs):
            await asyncio.sleep(1.5)  # the limiters start each window rested
            released += window
            clock.now = seed.due_clock(released)
            first = len(running.api.sent_at)
            started = time.time()
            sent = await dispatcher.run_due()
            times = running.api.sent_at[first:]
            assert sent == window and len(times) >= window, (sent, len(times))
            over, busiest = seconds_over(times, TELEGRAM_LIMIT)
            result["use"].append(len(times) / (times[-1] - started) / TELEGRAM_LIMIT)
            result["exceeded"].append(over)
            result["busiest"].append(busiest)
    finally:
        await running.close()
    return result


async def bench_limit(plan: Plan, work: Path, profiles: Profiles, postgres: str | None) -> list[Figure]:
    window = TELEGRAM_LIMIT * plan.limit_seconds
    about = (
        f"{window} prompts due at once ({plan.limit_seconds} s at 30/s), Dispatcher.run_due through "
        "build_application's sender and limiters, real time"
    )
    log(f"limit: {plan.limit_runs} runs of {about}")
    url = seed.sqlite_copy(seed.sqlite_template(plan.small_due, log), work, "limit")
    with profiles.around("limit"):
        result = await limit_runs(plan, url, plan.limit_runs)
    log(f"limit: sqlite {result}")
    figures = [
        Figure(
            "limit_use",
            result["use"],
            0.95,
            at_most=False,
            note=f"SQLite; {about}; messages/s over the window as a share of 30/s",
        ),
        Figure(
            "limit_exceeded",
            result["exceeded"],
            0,
            unit="s",
            note="clock seconds with more than 30 messages; the most in any sliding second: "
            + ", ".join(f"{value:.0f}" for value in result["busiest"]),
            extra={"busiest_second": result["busiest"]},
        ),
    ]
    if postgres is not None:
        template = await seed.pg_template(postgres, plan.small_due, log)
        url = await seed.pg_copy(postgres, template, "work_limit")
        pg = await limit_runs(plan, url, plan.limit_runs_postgresql)
        await seed.pg_drop(postgres, "work_limit")
        log(f"limit: postgresql {pg}")
        figures.append(
            Figure(
                "limit_use_postgresql",
                pg["use"],
                note=f"the same on PostgreSQL (send slots in a table); {plan.limit_runs_postgresql} run(s); "
                f"seconds over 30: {pg['exceeded']}, most in a sliding second: {pg['busiest']}",
                extra={"exceeded": pg["exceeded"], "busiest_second": pg["busiest"]},
            )
        )
    return figures


# ---------------------------------------------------------------- memory


def probe(url: str, population: seed.Population, plan: Plan, part: int) -> dict[str, int]:
    command = [
        sys.executable,
        str(Path(__file__).with_name("rss_probe.py")),
        "--db", url,
        "--users", str(population.users),
        "--due", str(population.due),
        "--turns", str(plan.rss_turns),
        "--part", str(part),
        "--parts", str(plan.rss_runs),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"rss probe failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_rss(plan: Plan, work: Path) -> list[Figure]:
    urls = {
        "small": seed.sqlite_copy(seed.sqlite_template(plan.small_turn, log), work, "rss-small"),
        "large": seed.sqlite_copy(seed.sqlite_template(plan.large, log), work, "rss-large"),
    }
    populations = {"small": plan.small_turn, "large": plan.large}
    rss: dict[str, list[float]] = {"small": [], "large": []}
    log(f"rss: {plan.rss_runs} bot processes at each size, {plan.rss_turns} check-ins each")
    for part in range(plan.rss_runs):
        for name in ("small", "large") if part % 2 == 0 else ("large", "small"):
            rss[name].append(probe(urls[name], populations[name], plan, part)["rss_kb"] / 1024)
    mb = {name: round(statistics.median(values), 1) for name, values in rss.items()}
    log(f"rss: MB {mb}")
    return [
        Figure(
            "rss_ratio",
            ratios(rss["large"], rss["small"]),
            1.1,
            note=f"{mb['large']} MB with {plan.large_users:,} users vs {mb['small']} MB with "
            f"{plan.small_turn_users:,}",
            extra={"rss_mb": mb},
        )
    ]


# ---------------------------------------------------------------- the run


@contextlib.contextmanager
def maybe_postgres(wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    from tests.bench.pg_server import bench_postgres
    from tests.postgres import PostgresUnavailable

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(bench_postgres())
        except PostgresUnavailable as error:
            log(f"PostgreSQL unavailable, its figures are skipped: {error}")
            url = None
        yield url


def run(plan: Plan, phases: list[str], profiles: Profiles, use_postgres: bool) -> list[Figure]:
    figures: list[Figure] = []
    steps: dict[str, Callable[[Path, str | None], list[Figure]]] = {
        "turns": lambda work, pg: asyncio.run(bench_turns(plan, work, profiles)),
        "pickle": lambda work, pg: asyncio.run(bench_pickle(plan, work, profiles)),
        "due": lambda work, pg: asyncio.run(bench_due(plan, work, profiles, pg)),
        "dispatch": lambda work, pg: asyncio.run(bench_dispatch(plan, work, profiles, pg)),
        "limit": lambda work, pg: asyncio.run(bench_limit(plan, work, profiles, pg)),
        "rss": lambda work, pg: bench_rss(plan, work),
    }
    needs_postgres = use_postgres and any(phase in phases for phase in ("due", "dispatch", "limit"))
    with (
        tempfile.TemporaryDirectory(prefix="hipcoach-bench-", dir=seed.cache_dir()) as directory,
        maybe_postgres(needs_postgres) as postgres,
    ):
        for phase in PHASES:
            if phase in phases:
                started = time.perf_counter()
                figures += steps[phase](Path(directory), postgres)
                log(f"{phase} done in {time.perf_counter() - started:.0f} s")
                for leftover in Path(directory).iterdir():
                    leftover.unlink()  # working copies are large; keep one phase's at a time
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs (a few minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--only", default=",".join(PHASES), help=f"phases to run, of {','.join(PHASES)}")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figures")
    parser.add_argument(
        "--profile",
        default="",
        help="timed parts to profile with pyinstrument (bench extra), of turns, pickle, due-sqlite, "
        "due-postgresql, prune-due-sqlite, prune-due-postgresql, dispatch-sqlite, dispatch-postgresql, "
        "limit; text reports go to the cache directory",
    )
    args = parser.parse_args(argv)
    phases = [phase for phase in args.only.split(",") if phase]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    plan = Plan.make(args.quick)
    profiles = Profiles([p for p in args.profile.split(",") if p], seed.cache_dir())
    started = time.perf_counter()
    with LoadSampler() as load:
        figures = run(plan, phases, profiles, not args.no_postgres)
    report = {
        "command": "python tests/bench/run.py" + (" --quick" if args.quick else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {**machine(), "load_average_1min": load.summary()},
        "plan": asdict(plan),
        "seconds": round(time.perf_counter() - started),
        "figures": {figure.name: figure.to_json() for figure in figures},
        "passed": all(figure.passed is not False for figure in figures),
        "profiles": [str(path) for path in profiles.saved],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(figures))
        print()
        for figure in figures:
            print(f"- {figure.name}: {figure.note}")
        print(f"\n{report['machine']}, {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
