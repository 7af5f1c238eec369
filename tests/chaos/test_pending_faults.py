"""Chaos cases that still fail now and then: not collected (tests/chaos/conftest.py) until fixed.

- Database outage (issue 15, item 2): two 3-second cuts of PostgreSQL while 20 users check in on two
  replicas. Bookkeeping is now retried through a cut and a row whose files cannot be made is given
  back, so the 28 rows once left `sending` are gone; but in about one run in five, one outbox row is
  still open at the end. The likeliest cause: a commit whose answer was lost in the cut. The turn
  reports a failure (503, redelivered, then found already handled), while its reply row, claimed for
  that caller at commit, waits out the 10-minute lease.
- Replicas under load: a double tap's second reply can reach the chat before the first turn's last
  message when two replicas (or two of one process's senders) each deliver one of the user's rows.
  Making a reply wait behind a row of the user's still being sent fixed it (9 runs of 9), but then,
  after a kill -9, replies waited behind the dead bot's rows long enough for the crash case's users
  to type their check-in again, recorded twice; it was taken out. The fix needs to tell a live
  sender's claim from a dead one's (a heartbeat on the claim).
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
