"""The chaos suite's PostgreSQL and its runner: short versions of the proofs (tests/proofs/), run at once."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.postgres import GIVEN_URL, PostgresUnavailable, postgres_server
from tests.proofs import harness


@pytest.fixture(scope="session")
def chaos_postgres() -> Iterator[str]:
    """A PostgreSQL server for the suite, found or installed as for the integration tests."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailable as error:
            reason = f"no PostgreSQL for the chaos suite (set {GIVEN_URL} or allow apt-get): {error}"
            if os.environ.get("CI"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        yield url


@dataclass(frozen=True)
class Case:
    """One short proof: its module (with `parse_args`, `prove`, `PROMISES`), its arguments and its verdict."""

    proof: ModuleType
    argv: tuple[str, ...]
    verdict: Callable[[dict[str, int], Any], list[str]]

    def args(self) -> Any:
        return self.proof.parse_args(list(self.argv))


@dataclass(frozen=True)
class Outcome:
    """What a case counted, or what stopped it."""

    counts: dict[str, int] | None
    error: str = ""
    output: str = ""  # what the proof printed on the way (its progress, any explanation of a broken promise)


def run_case(proof: str, argv: tuple[str, ...], server: str, workdir: Path) -> Outcome:
    """One case in a process of its own (`proof` is a module of tests.proofs)."""
    module = importlib.import_module(f"tests.proofs.{proof}")
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            counts = asyncio.run(module.prove(module.parse_args(list(argv)), workdir, server))
        return Outcome(counts, output=output.getvalue())
    except Exception:  # reported by the case's own test
        return Outcome(None, traceback.format_exc(), output.getvalue())


def run_cases(cases: dict[str, Case], server: str, workdir: Path) -> dict[str, Outcome]:
    """Every case at once, each in its own process with its own database and fake Telegram: their bots
    mostly wait, so the suite takes about as long as its longest case, and no case's fake Telegram
    waits for another's to answer."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(cases), mp_context=spawn) as pool:
        running = {}
        for name, case in cases.items():
            (workdir / name).mkdir()
            proof = case.proof.__name__.rpartition(".")[2]
            running[name] = pool.submit(run_case, proof, case.argv, server, workdir / name)
        return {name: future.result() for name, future in running.items()}


def check(name: str, case: Case, outcome: Outcome, capsys: pytest.CaptureFixture[str]) -> None:
    """Print the case's counts (in CI's output too), then assert 0 lost, 0 doubled, 0 invalid and the
    proof's own verdict."""
    if outcome.counts is None:
        raise AssertionError(f"{name} could not run:\n{outcome.error}")
    counts = outcome.counts
    totals = case.proof.PROMISES.totals(counts)
    broken = case.verdict(counts, case.args())
    with capsys.disabled():
        print(f"\n--- chaos: {name} ---")
        if broken or any(totals.values()):
            print(outcome.output[-5000:])
        harness.report(counts, broken)
        print(f"lost {totals['lost']} · doubled {totals['doubled']} · invalid states {totals['invalid']}")
    assert totals == {"lost": 0, "doubled": 0, "invalid": 0}
    assert broken == []
