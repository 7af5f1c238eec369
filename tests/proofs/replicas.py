"""Proof: three webhook replicas on one PostgreSQL, behind one nginx, serve 10,000 scheduled users.

    python -m tests.proofs.replicas [--users 10000] [--sample 300] [--send-rate 80] [--seed 5]

10,000 users are seeded in the database as the engine leaves a user who has just set a daily schedule:
idle, with one session prompt due now. Three `hipcoach run` processes (webhook mode, one port each)
then dispatch the prompts while a sample of users check in through nginx: they press Start, Done and
the three check-in buttons, like people do. A third of the sample has every update delivered twice at
once (Telegram's redelivery, landing on two replicas), and a fifth taps the last button twice.

Promises counted:
- every user gets the session prompt exactly once (duplicates: users with more than one; missed: none);
- no interleaved turns: for each sampled user every update is answered once and in order, the replies
  are those the engine gives for one sequential run, exactly one check-in row is written, and the
  check-in history in the state agrees with the rows (two overlapping turns would lose or double one);
- every update Telegram delivered is handled (none accepted and then lost);
- the messages Telegram received never exceed the shared send rate in any second.

The send rate is lifted from Telegram's 30 messages/s to 80 for the run (HIPCOACH_SEND_RATE), shared
by the three replicas, each of which could send all 80 on its own: the shared limit is the only one
that binds. Exits 1 if any promise is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from pathlib import Path

import httpx

from hipcoach.bot.storage.db import make_engine
from tests.proofs import harness
from tests.proofs.fake_telegram import FakeTelegram, serving
from tests.proofs.harness import log


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300, help="users who check in over the webhook")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--send-rate", type=int, default=80, help="HIPCOACH_SEND_RATE for the run")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900, help="seconds the whole run may take")
    parser.add_argument("--balancer", action="store_true", help="our own balancer in front, not nginx")
    return parser.parse_args(argv)


async def prove(args: argparse.Namespace, workdir: Path, server: str | None = None) -> dict[str, int]:
    """The proof's counts; on `server` if given, else on the tests' own PostgreSQL."""
    started = time.monotonic()
    deadline = started + args.timeout
    content = harness.content()
    rng = random.Random(args.seed)
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(harness.postgres(server))
        await harness.migrate(database)
        user_ids = range(10_000_001, 10_000_001 + args.users)
        seeded = await harness.seed_users(database, user_ids, harness.utc_now(), content)
        plan = harness.transcript(seeded, content, harness.utc_now())
        log(f"seeded {args.users} users, each idle with a session prompt due {seeded.session_due:%H:%M} UTC")

        api = FakeTelegram()
        api_url = await stack.enter_async_context(serving(api))
        ports = [harness.free_port() for _ in range(args.replicas)]
        entry = await stack.enter_async_context(harness.entry_point(ports, balancer=args.balancer))
        webhook_url = entry + harness.WEBHOOK_PATH
        replicas = await stack.enter_async_context(
            harness.bots(ports, workdir, database, api_url, webhook_url, args.send_rate)
        )
        log(f"{len(replicas)} replicas serving the webhook behind nginx at {entry}")
        engine = make_engine(database)
        stack.push_async_callback(engine.dispose)

        sample = rng.sample(list(user_ids), args.sample)
        twice = set(sample[: args.sample // 3])
        double_tap = set(sample[args.sample // 3 : args.sample // 3 + args.sample // 5])
        client = await stack.enter_async_context(httpx.AsyncClient(trust_env=False))
        webhook = harness.Webhook(api, webhook_url, client)
        runs = [
            harness.check_in(
                webhook,
                user,
                plan,
                harness.ANSWERS,
                prompt_timeout=deadline - time.monotonic(),
                step_timeout=120,
                max_updates=8,
                redeliver=lambda user=user: user in twice,
                double_tap=user in double_tap,
            )
            for user in sample
        ]
        users = asyncio.gather(*runs)
        stack.callback(users.cancel)  # if the proof fails half-way, no user waits on

        def prompted() -> int:
            return len({s.chat_id for s in api.sent if s.text == plan.prompt})

        last, ledger = [0.0], [0]

        async def everyone_prompted() -> bool:
            # The limiter's own count per second (rows are kept for a minute: polled well within it).
            used = await harness.scalar(engine, "SELECT coalesce(max(used), 0) FROM send_slots")
            ledger[0] = max(ledger[0], used)
            if time.monotonic() - last[0] > 15:
                last[0] = time.monotonic()
                log(f"prompts delivered to {prompted()} of {args.users} users")
            return prompted() >= args.users

        if not await harness.wait_until(everyone_prompted, deadline - time.monotonic(), every=1):
            log("time is up before every user was prompted")
        finished = await asyncio.wait_for(users, max(deadline - time.monotonic(), 1))

        async def settled() -> bool:
            return await harness.outbox_open(engine) == 0

        await harness.wait_until(settled, max(deadline - time.monotonic(), 1))
        await asyncio.sleep(6)  # a last round of every dispatcher: nothing more may be sent
        exits = [await replica.stop() for replica in replicas]

        counts = await count(args, api, plan, seeded, engine, finished, webhook, twice, double_tap)
        counts["most send slots the shared limiter granted in one second"] = ledger[0]
        counts["users in an invalid state"] = await harness.invalid_states(engine, content)
        counts["replicas stopped cleanly (exit 0)"] = sum(code == 0 for code in exits)
        counts["runtime seconds"] = round(time.monotonic() - started)
        return counts


async def count(args, api, plan, seeded, engine, finished, webhook, twice, double_tap) -> dict[str, int]:
    prompts = harness.sent_by_chat(api, plan.prompt)
    counts: dict[str, int] = {
        "users": args.users,
        "replicas": args.replicas,
        "users prompted exactly once": sum(1 for u in seeded.user_ids if prompts[u] == 1),
        "duplicate prompts (users with >1)": sum(1 for u in seeded.user_ids if prompts[u] > 1),
        "missed prompts (users with 0)": sum(1 for u in seeded.user_ids if prompts[u] == 0),
    }
    check_ins = await harness.check_ins_since(engine, seeded.session_due)
    handled = dict(
        await harness.rows(engine, "SELECT user_id, count(*) FROM processed_updates GROUP BY user_id")
    )
    history = dict(
        await harness.rows(
            engine,
            "SELECT user_id, json_array_length((data::json)->'history') FROM dialogue_states "
            "WHERE user_id = ANY(:users)",
            users=[run.user_id for run in finished],
        )
    )
    seeded_history = len(seeded.state.data.get("history", []))
    expected_messages = sum(plan.replies)
    interleaved = answered_twice = out_of_order = 0
    for run in finished:
        user = run.user_id
        messages = api.messages(user)
        extra = plan.stale if user in double_tap else 0
        questions = tuple(harness.question_of(m) for m in messages if m.buttons)
        wanted = plan.questions + (("idle",) if user in double_tap else ())
        broken = [
            check_ins.get(user, 0) != 1,
            history.get(user, 0) != seeded_history + 1,
            handled.get(user, 0) != len(run.updates),
            len(messages) != expected_messages + extra,
            questions != wanted,
        ]
        answered_twice += len(messages) > expected_messages + extra
        out_of_order += questions != wanted
        if questions != wanted:
            explain(api, run, wanted)
        interleaved += any(broken)
    accepted = webhook.accepted
    processed = await harness.processed_updates(engine)
    per_second = api.sends_per_second()
    counts |= {
        "sampled users checking in over the webhook": len(finished),
        "  of them: every update delivered twice": len(twice),
        "  of them: last button tapped twice": len(double_tap),
        "check-ins acknowledged": sum(run.acknowledged for run in finished),
        "check-in rows written for them": sum(check_ins.get(run.user_id, 0) for run in finished),
        "users with interleaved turns": interleaved,
        "  answered more than once": answered_twice,
        "  replies out of order": out_of_order,
        "updates posted (distinct)": len(webhook.posted),
        "updates accepted, then never handled": len(accepted - processed),
        "redelivered copies posted": sum(run.copies for run in finished),
        "outbox rows failed": await harness.outbox_failed(engine),
        "messages sent": len(api.sent),
        "send rate limit (messages/s, all replicas)": args.send_rate,
        "most messages Telegram received in one second": max(per_second.values(), default=0),
    }
    return counts


def explain(api: FakeTelegram, run: harness.UserRun, wanted: tuple[str, ...]) -> None:
    """What a user whose replies came out of order saw, for finding out why."""
    print(f"user {run.user_id}: questions wanted {wanted}; updates {run.updates} ({run.copies} copies)")
    for message in api.messages(run.user_id):
        print(f"  {message.at:.3f} #{message.message_id} {harness.question_of(message) or '-'}")


BROKEN_IF_NONZERO = (
    "duplicate prompts (users with >1)",
    "missed prompts (users with 0)",
    "users with interleaved turns",
    "updates accepted, then never handled",
    "outbox rows failed",
    "users in an invalid state",
)
PROMISES = harness.Promises(
    lost=("missed prompts (users with 0)", "updates accepted, then never handled"),
    doubled=("duplicate prompts (users with >1)", "  answered more than once"),
    invalid=("users with interleaved turns", "users in an invalid state"),
)


def verdict(counts: dict[str, int], args: argparse.Namespace) -> list[str]:
    broken = [f"{name}: {counts[name]}" for name in BROKEN_IF_NONZERO if counts[name]]
    if counts["most messages Telegram received in one second"] > args.send_rate:
        broken.append("Telegram received more than the shared send rate in a second")
    if counts["most send slots the shared limiter granted in one second"] > args.send_rate:
        broken.append("the shared limiter granted more than the send rate in a second")
    if counts["check-ins acknowledged"] != counts["sampled users checking in over the webhook"]:
        broken.append("not every sampled user's check-in was acknowledged")
    if counts["replicas stopped cleanly (exit 0)"] != args.replicas:
        broken.append("a replica did not stop cleanly on SIGTERM")
    return broken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_proof(
        "replicas", lambda workdir: prove(args, workdir), lambda counts: verdict(counts, args)
    )


if __name__ == "__main__":
    sys.exit(main())
