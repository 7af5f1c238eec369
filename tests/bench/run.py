"""Hip Coach benchmarks for issue 16: `python tests/bench/run.py [--quick] [--json] [--only ...]`

Every figure is a median over repeated runs with its spread, next to its target and its peers,
measured against a fake Bot API with a simulated round trip (tests/bench/bots.py: RoundTrip).
See docs/performance.md ("What is measured") for what each figure and peer is. A figure measured
while the 1-minute load average exceeded the number of cores is marked "(loaded)" (JSON: loaded).

Phases (--only): limit, throughput, cpu, pickle, history, scale, rss.
Databases are generated in SQL and cached (seed.py); every run works on copies. PostgreSQL is the
tests' local server (pg_server.py), installed if missing; --no-postgres skips its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # import as tests.bench.*, never shadowing installed modules

from hipcoach.bot.bootstrap import tune_garbage_collection  # noqa: E402
from tests.bench import history, limits, seed, turns  # noqa: E402
from tests.bench.figures import Figure, LoadWatch, machine, ratios, table  # noqa: E402

PHASES = ("limit", "throughput", "cpu", "pickle", "history", "scale", "rss")
POSTGRES_PHASES = ("limit", "throughput", "cpu", "history")


@dataclass(frozen=True)
class Plan:
    quick: bool
    small_turn_users: int = 1_000
    small_due_users: int = 10_000
    large_users: int = 1_000_000
    due: int = 8_000
    runs: int = 5
    turns_per_run: int = 100
    pickle_large_turns: int = 3
    pickle_runs: int = 3
    limit_rtt: float = 0.05
    limit_seconds: int = 60
    limit_runs: int = 3
    other_rtts: tuple[float, ...] = (0.0, 0.02, 0.1)
    other_rtt_seconds: int = 20
    other_rtt_runs: int = 1
    claim: int = 1_000
    throughput_runs: int = 3
    history: int = 3_000_000
    history_users: int = 10_000
    history_pending: int = 2_000
    history_selects: int = 60
    history_runs: int = 3
    rss_runs: int = 3
    rss_turns: int = 250

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            large_users=100_000,
            runs=4,
            turns_per_run=50,
            pickle_large_turns=4,
            pickle_runs=2,
            limit_seconds=15,
            limit_runs=2,
            other_rtts=(),
            claim=500,
            throughput_runs=2,
            history=1_000_000,
            history_pending=1_000,
            history_selects=40,
            history_runs=3,
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


async def copy_of(
    population: seed.Population, work: Path, engine: str, postgres: str | None, name: str
) -> str:
    """A working copy of a population's cached database on this engine."""
    if engine == "sqlite":
        return seed.sqlite_copy(seed.sqlite_template(population, log), work, name)
    assert postgres is not None
    template = await seed.pg_template(postgres, population, log)
    return await seed.pg_copy(postgres, template, f"work_{name}_{os.getpid()}")


async def dropped(work: Path, engine: str, postgres: str | None, name: str) -> None:
    if engine == "sqlite":
        for leftover in work.glob(f"{name}.db*"):
            leftover.unlink(missing_ok=True)
    elif postgres is not None:
        await seed.pg_drop(postgres, f"work_{name}_{os.getpid()}")


def engines(postgres: str | None) -> list[str]:
    return ["sqlite"] + (["postgresql"] if postgres is not None else [])


# ---------------------------------------------------------------- the 30/s limit


def rtt_label(rtt: float) -> str:
    return f"{round(rtt * 1000)}ms"


async def bench_limit(plan: Plan, work: Path, engine: str, postgres: str | None) -> list[Figure]:
    """limit_use and seconds over 30 for prompts and for check-in replies, at each round trip."""
    figures = []
    settings = [(plan.limit_rtt, plan.limit_seconds, plan.limit_runs)]
    settings += [(rtt, plan.other_rtt_seconds, plan.other_rtt_runs) for rtt in plan.other_rtts]
    for rtt, seconds, runs in settings:
        for kind in ("prompts", "replies"):
            log(f"limit: {engine}, {kind}, {rtt_label(rtt)} round trip, {runs} windows of {seconds} s")
            url = await copy_of(plan.small_due, work, engine, postgres, f"limit_{kind}")
            try:
                if kind == "prompts":
                    found = await limits.prompt_windows(url, rtt, seconds, runs)
                else:
                    found = await limits.reply_windows(url, plan.small_due, rtt, seconds, runs)
            finally:
                await dropped(work, engine, postgres, f"limit_{kind}")
            suffix = f"{kind}_{engine}_{rtt_label(rtt)}"
            source = (
                f"{limits.TELEGRAM_LIMIT * seconds} prompts due at once through Dispatcher.run_due"
                if kind == "prompts"
                else "check-ins of distinct users arriving at once on the update queue"
            )
            log(f"limit: use {found.use}, seconds over {found.over}, busiest {found.busiest}")
            figures += [
                Figure(
                    f"limit_use_{suffix}",
                    found.use,
                    0.98,
                    at_most=False,
                    note=f"{source}; {engine}; {rtt_label(rtt)} round trip +-20%; real limiters; "
                    f"messages/s over 30",
                    peers=f"most in a sliding second: {', '.join(f'{v:.0f}' for v in found.busiest)}",
                    extra=limits.describe(found),
                ),
                Figure(
                    f"seconds_over_limit_{suffix}",
                    found.over,
                    0,
                    unit="s",
                    note="clock seconds of the same windows with more than 30 messages",
                    peers=f"most in a sliding second: {max(found.busiest):.0f}",
                    extra={"busiest_second": found.busiest},
                ),
            ]
    return figures


async def bench_throughput(plan: Plan, work: Path, engine: str, postgres: str | None) -> list[Figure]:
    log(f"throughput: {engine}, {plan.throughput_runs} runs of {plan.claim} prompts, limits lifted")
    url = await copy_of(plan.large, work, engine, postgres, "throughput")
    try:
        rates = await limits.prompts_per_second(url, plan.limit_rtt, plan.claim, plan.throughput_runs, 0)
    finally:
        await dropped(work, engine, postgres, "throughput")
    log(f"throughput: {engine} prompts/s {[round(rate) for rate in rates]}")
    return [
        Figure(
            f"prompts_per_s_{engine}",
            rates,
            300 if engine == "sqlite" else 1000,
            at_most=False,
            unit="/s",
            note=f"{plan.claim} due prompts among {plan.large_users:,} users: claimed, turned, committed "
            f"and sent through Dispatcher.run_due and the application's sender, limits lifted, "
            f"{rtt_label(plan.limit_rtt)} round trip +-20%",
        )
    ]


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


Step = Callable[[Path, str | None], list[Figure]]


def steps(plan: Plan) -> dict[str, Step]:
    def per_engine(bench: Callable[..., object]) -> Step:
        def run_all(work: Path, pg: str | None) -> list[Figure]:
            found: list[Figure] = []
            for engine in engines(pg):
                found += asyncio.run(bench(plan, work, engine, pg))  # type: ignore[arg-type]
            return found

        return run_all

    return {
        "limit": per_engine(bench_limit),
        "throughput": per_engine(bench_throughput),
        "cpu": per_engine(lambda plan, work, engine, pg: turns.bench_turn_cpu(plan, work, engine, pg, log)),
        "pickle": lambda work, pg: asyncio.run(turns.bench_pickle(plan, work, log)),
        "history": per_engine(
            lambda plan, work, engine, pg: history.bench_history(plan, work, engine, pg, log)
        ),
        "scale": lambda work, pg: asyncio.run(turns.bench_scale(plan, work, log)),
        "rss": lambda work, pg: bench_rss(plan, work),
    }


def run(plan: Plan, phases: list[str], use_postgres: bool, watch: LoadWatch) -> list[Figure]:
    figures: list[Figure] = []
    needs_postgres = use_postgres and any(phase in phases for phase in POSTGRES_PHASES)
    with (
        tempfile.TemporaryDirectory(prefix="hipcoach-bench-", dir=seed.cache_dir()) as directory,
        maybe_postgres(needs_postgres) as postgres,
    ):
        for name, step in steps(plan).items():
            if name not in phases:
                continue
            started = time.perf_counter()
            with watch.during() as load:
                found = step(Path(directory), postgres)
            for figure in found:
                figure.load = list(load)
            figures += found
            log(f"{name} done in {time.perf_counter() - started:.0f} s (load {max(load):.2f})")
            for leftover in Path(directory).iterdir():
                leftover.unlink(missing_ok=True)  # working copies are large; keep one phase's at a time
    return figures


def with_pickle_peers(figures: list[Figure]) -> None:
    """The PicklePersistence peers' CPU per check-in, beside the check-in turn's peer figures."""
    pickles = {f.name.removeprefix("pickle_"): f for f in figures if f.name.startswith("pickle_")}
    if not pickles:
        return
    beside = "; pickle " + ", ".join(f"{name} {figure.median:.1f} ms" for name, figure in pickles.items())
    for figure in figures:
        if figure.name.startswith("turn_cpu_peer_ratio_"):
            figure.peers += beside


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs (4-8 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--only", default=",".join(PHASES), help=f"phases to run, of {','.join(PHASES)}")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figures")
    args = parser.parse_args(argv)
    phases = [phase for phase in args.only.split(",") if phase]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    plan = Plan.make(args.quick)
    started = time.perf_counter()
    tune_garbage_collection()  # as serve_telegram does: every bot and peer here runs with it
    with LoadWatch() as watch:
        figures = run(plan, phases, not args.no_postgres, watch)
    with_pickle_peers(figures)
    report = {
        "command": "python tests/bench/run.py" + (" --quick" if args.quick else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "load_average_1min": watch.summary()},
        "plan": asdict(plan),
        "seconds": round(time.perf_counter() - started),
        "figures": {figure.name: figure.to_json() for figure in figures},
        "passed": all(figure.passed is not False for figure in figures),
        "loaded": [figure.name for figure in figures if figure.loaded],
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
