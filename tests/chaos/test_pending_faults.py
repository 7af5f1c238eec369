"""Chaos cases that fail today for known faults of the bot's; enabled (tests/chaos/conftest.py) once fixed.

- Database outage (issue 15, item 2): a cut while the dispatcher delivers leaves the rows it claimed in
  `sending` (marking them sent fails: "Task exception was never retrieved" in Dispatcher._send_in_turn)
  until their 10-minute lease runs out, so those users' acknowledgements and later messages stall.
- Replicas under load: when one user's two updates are handled at once (a double tap), the second
  turn's reply can reach the chat before the first turn's last message (seen after the change that
  handles 16 updates and delivers 16 outbox rows at once), which breaks "one user's turns stay in order".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.conftest import Case, Outcome, check, run_cases
from tests.proofs import replicas, turns

CASES = {
    "database outage": Case(
        turns,
        (
            "--fault", "outage", "--users", "20", "--outages", "2", "--outage-seconds", "3",
            "--seed", "13", "--balancer", "--timeout", "60",
        ),
        turns.verdict,
    ),
    "replicas": Case(
        replicas,
        (
            "--users", "300", "--sample", "30", "--replicas", "2",
            "--seed", "5", "--balancer", "--timeout", "100",
        ),
        replicas.verdict,
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(chaos_postgres: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_cases(CASES, chaos_postgres, Path(tmp_path_factory.mktemp("chaos-pending")))


def test_a_database_cut_off_for_seconds_again_and_again_loses_no_acknowledged_update(
    outcomes, capsys
) -> None:
    check("database outage", CASES["database outage"], outcomes["database outage"], capsys)


def test_replicas_on_one_database_never_interleave_a_users_turns(outcomes, capsys) -> None:
    check("replicas", CASES["replicas"], outcomes["replicas"], capsys)
