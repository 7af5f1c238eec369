"""The chaos suite: short versions of the proofs (tests/proofs/), with a fixed seed each, run in CI.

Each case runs real `hipcoach run` processes on a fresh PostgreSQL database against the fake Bot API,
behind our own balancer (tests/proofs/balancer.py: CI has no nginx), prints its counts and asserts
0 lost updates, 0 doubled messages and 0 invalid states, and the proof's own verdict. The cases run at
once (see conftest.run_cases); the long versions are the scripts, with their counts in docs/proofs.md.

The PostgreSQL outage and replicas cases need a live sender's outbox claim told from a dead one's (a
heartbeat on the claim, bot/storage/outbox.py): a reply claimed for a caller that never heard of its
commit goes out once its short lease lapses, and a user's replies keep their order across replicas
without waiting behind a killed bot's claims.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.conftest import Case, Outcome, check, run_cases
from tests.proofs import crash, faults, replicas, turns

BALANCED = ("--balancer", "--timeout", "100")
CASES = {
    "crash": Case(
        crash,
        ("--users", "16", "--kills", "4", "--spread", "6", "--step-timeout", "5", "--seed", "7", *BALANCED),
        lambda counts, args: crash.verdict(counts, strict=False, least_kills=args.kills),
    ),
    "send faults": Case(
        faults,
        ("--users", "30", "--replicas", "2", "--seed", "11", "--timeout", "100"),
        lambda counts, args: faults.verdict(counts, strict=False),
    ),
    **{
        f"{fault} faults": Case(
            turns,
            ("--fault", fault, "--users", "20", "--rate", "0.3", "--seed", "13", *BALANCED),
            turns.verdict,
        )
        for fault in ("press", "edit", "webhook")
    },
    # Two 3-second cuts of PostgreSQL while 20 users check in on two replicas.
    "database outage": Case(
        turns,
        (
            "--fault", "outage", "--users", "20", "--outages", "2", "--outage-seconds", "3",
            "--seed", "13", *BALANCED[:1], "--timeout", "60",
        ),
        turns.verdict,
    ),
    # Double taps and redeliveries on two replicas, 30 of 150 prompted users checking in: each user's
    # replies in order. (The script's 300 users add prompts, not taps, and slow the other cases.)
    "replicas": Case(
        replicas,
        ("--users", "150", "--sample", "30", "--replicas", "2", "--seed", "5", *BALANCED),
        replicas.verdict,
    ),
    # One bot on SQLite; the write lock held longer than its 10 s busy timeout.
    "sqlite lock": Case(
        turns,
        (
            "--fault", "outage", "--database", "sqlite", "--replicas", "1", "--users", "20",
            "--outages", "1", "--outage-seconds", "12", "--seed", "13", *BALANCED,
        ),
        turns.verdict,
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(chaos_postgres: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_cases(CASES, chaos_postgres, Path(tmp_path_factory.mktemp("chaos")))


def test_a_bot_killed_with_sigkill_under_load_loses_and_doubles_nothing(outcomes, capsys) -> None:
    check("crash", CASES["crash"], outcomes["crash"], capsys)


def test_failing_sends_double_nothing_and_miss_only_sends_left_unanswered(outcomes, capsys) -> None:
    check("send faults", CASES["send faults"], outcomes["send faults"], capsys)


def test_failing_press_answers_lose_no_press(outcomes, capsys) -> None:
    check("press faults", CASES["press faults"], outcomes["press faults"], capsys)


def test_failing_keyboard_edits_lose_no_press(outcomes, capsys) -> None:
    check("edit faults", CASES["edit faults"], outcomes["edit faults"], capsys)


def test_a_sqlite_database_locked_past_the_busy_timeout_loses_no_acknowledged_update(
    outcomes, capsys
) -> None:
    check("sqlite lock", CASES["sqlite lock"], outcomes["sqlite lock"], capsys)


def test_dropped_timed_out_and_repeated_webhook_deliveries_lose_and_double_nothing(outcomes, capsys) -> None:
    check("webhook faults", CASES["webhook faults"], outcomes["webhook faults"], capsys)


def test_a_database_cut_off_for_seconds_again_and_again_loses_no_acknowledged_update(
    outcomes, capsys
) -> None:
    check("database outage", CASES["database outage"], outcomes["database outage"], capsys)


def test_replicas_on_one_database_never_interleave_a_users_turns(outcomes, capsys) -> None:
    check("replicas", CASES["replicas"], outcomes["replicas"], capsys)
