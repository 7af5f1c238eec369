"""Proof: faults on an update's way through the bot lose no acknowledged update, double no message and
leave no user in an invalid state.

    python -m tests.proofs.turns --fault press|edit|webhook|outage [--users 100] [--rate 0.3] [--seed 13]

Users are seeded as in the replicas proof (idle, a session prompt due now) and served by webhook
replicas behind one entry point. Every user, once prompted, checks in by pressing the buttons (Start,
Done, pain, effort, control) over the webhook; Telegram's side redelivers an update until it is
answered 2xx, and a user whose reply does not come presses again. Meanwhile one kind of fault:

- `press`: a share of answerCallbackQuery calls fail: 400 "query is too old", 403, 429, 5xx, no
  answer before the client's read timeout (lost, or done but answered late);
- `edit`: the same for editMessageReplyMarkup (the keyboard taken off a pressed message);
- `webhook`: a share of webhook deliveries go wrong on Telegram's side: the connection dropped after
  the request, the answer not waited for (timeout), or an accepted update posted again;
- `outage`: the database is cut off from the bots (every connection dropped, new ones refused) for a
  few seconds, again and again, while the users check in; on SQLite (`--database sqlite`, one bot)
  another connection holds its write lock instead (longer than the bot's 10 s busy timeout to hurt).

No send is failed, so nothing may be missed at the at-most-once limit. Promises counted: every user is
prompted once and has their check-in acknowledged once and recorded once; every update answered 2xx
is handled; every user is in a valid state; no outbox row fails. Exits 1 if a promise is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from hipcoach.bot.storage.db import make_engine
from tests.proofs import harness
from tests.proofs.balancer import Balancer
from tests.proofs.crash import doubled
from tests.proofs.fake_telegram import PRESS_FAULT_KINDS, FakeTelegram, Faults, serving
from tests.proofs.harness import log

FAULTED_METHOD = {"press": "answerCallbackQuery", "edit": "editMessageReplyMarkup"}
FAULTS = ("press", "edit", "webhook", "outage")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=FAULTS, required=True)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.3, help="share of calls or deliveries that fail")
    parser.add_argument("--outages", type=int, default=3, help="database cuts (--fault outage)")
    parser.add_argument("--outage-seconds", type=float, default=4.0, help="how long each cut lasts")
    parser.add_argument("--send-rate", type=int, default=60, help="HIPCOACH_SEND_RATE for the run")
    parser.add_argument("--step-timeout", type=float, default=20, help="seconds a user waits for a reply")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=600, help="seconds the whole run may take")
    parser.add_argument("--balancer", action="store_true", help="our own balancer in front, not nginx")
    return parser.parse_args(argv)


def telegram_faults(args: argparse.Namespace) -> Faults:
    if args.fault not in FAULTED_METHOD:
        return Faults()
    method = FAULTED_METHOD[args.fault]
    return Faults(rate=args.rate, seed=args.seed, kinds=PRESS_FAULT_KINDS, methods=frozenset({method}))


def webhook_faults(args: argparse.Namespace) -> harness.WebhookFaults:
    if args.fault != "webhook":
        return harness.WebhookFaults()
    return harness.WebhookFaults(rate=args.rate, seed=args.seed)


async def cut_database(
    switch: Balancer | harness.SqliteLock, args: argparse.Namespace, rng: random.Random
) -> list[float]:
    """Cut the bots off the database `args.outages` times, `args.outage_seconds` each; the lengths."""
    cuts = []
    for _ in range(args.outages):
        await asyncio.sleep(rng.uniform(0.2, 2.0))
        switch.cut()
        began = time.monotonic()
        log(f"database cut off for {args.outage_seconds:.0f} s")
        await asyncio.sleep(args.outage_seconds)
        switch.restore()
        cuts.append(time.monotonic() - began)
    return cuts


async def prove(args: argparse.Namespace, workdir: Path, server: str | None = None) -> dict[str, int]:
    """The proof's counts; on `server` if given, else on the tests' own PostgreSQL."""
    started = time.monotonic()
    deadline = started + args.timeout
    content = harness.content()
    rng = random.Random(args.seed)
    async with contextlib.AsyncExitStack() as stack:
        sqlite_file = workdir / "hipcoach.db"
        if args.database == "sqlite":
            database = f"sqlite+aiosqlite:///{sqlite_file}"
        else:
            database = await stack.enter_async_context(harness.postgres(server))
        await harness.migrate(database)
        user_ids = range(40_000_001, 40_000_001 + args.users)
        seeded = await harness.seed_users(database, user_ids, harness.utc_now(), content)
        plan = harness.transcript(seeded, content, harness.utc_now())
        log(f"seeded {args.users} users; fault: {args.fault}")

        api = FakeTelegram(telegram_faults(args))
        api_url = await stack.enter_async_context(serving(api))
        bots_database, switch = database, None
        if args.fault == "outage" and args.database == "sqlite":
            switch = harness.SqliteLock(sqlite_file)
            stack.callback(switch.restore)
        elif args.fault == "outage":
            bots_database, switch = await stack.enter_async_context(harness.database_outage(database))
        ports = [harness.free_port() for _ in range(args.replicas)]
        entry = await stack.enter_async_context(harness.entry_point(ports, balancer=args.balancer))
        webhook_url = entry + harness.WEBHOOK_PATH
        replicas = await stack.enter_async_context(
            harness.bots(ports, workdir, bots_database, api_url, webhook_url, args.send_rate)
        )
        engine = make_engine(database)
        stack.push_async_callback(engine.dispose)
        client = await stack.enter_async_context(httpx.AsyncClient(trust_env=False))
        webhook = harness.Webhook(api, webhook_url, client, webhook_faults(args))
        runs = [
            asyncio.create_task(
                harness.check_in(
                    webhook,
                    user,
                    plan,
                    harness.ANSWERS,
                    prompt_timeout=max(deadline - time.monotonic(), 1),
                    step_timeout=args.step_timeout,
                    max_updates=25,
                )
            )
            for user in user_ids
        ]
        stack.callback(lambda: [run.cancel() for run in runs])  # if the proof fails half-way
        cuts = []
        if switch:
            await harness.wait_until(lambda: api.sent, 60, every=0.05)  # cut while the users are at it
            cuts = await cut_database(switch, args, rng)
        done, _ = await asyncio.wait(runs, timeout=max(deadline - time.monotonic(), 1))
        finished = [run.result() for run in done if not run.cancelled()]

        async def settled() -> bool:
            return await harness.outbox_open(engine) == 0

        await harness.wait_until(settled, min(30.0, max(deadline - time.monotonic(), 1)))
        await asyncio.sleep(6)  # a last round of every dispatcher: nothing more may be sent
        exits = [await replica.stop() for replica in replicas]

        counts = await count(args, api, plan, seeded, engine, finished, webhook, content)
        counts |= {
            "database cuts": len(cuts),
            "  connections dropped or refused by them": switch.refused if switch else 0,
            "replicas stopped cleanly (exit 0)": sum(code == 0 for code in exits),
            "runtime seconds": round(time.monotonic() - started),
        }
        return counts


async def count(args, api, plan, seeded, engine, finished, webhook, content) -> dict[str, int]:
    method = FAULTED_METHOD.get(args.fault)
    outcomes = api.outcomes({method}) if method else Counter()
    prompts, acks = harness.sent_by_chat(api, plan.prompt), harness.sent_by_chat(api, plan.ack)
    check_ins = await harness.check_ins_since(engine, seeded.session_due)
    processed = await harness.processed_updates(engine)
    invalid = await harness.invalid_states(engine, content)
    states = await harness.scalar(engine, "SELECT count(*) FROM dialogue_states")
    answers = webhook.answers
    return {
        "users": args.users,
        f"{method or 'faulted'} calls": sum(outcomes.values()),
        **{f"  failed: {kind}": outcomes[kind] for kind in PRESS_FAULT_KINDS if method},
        **{f"webhook deliveries spoiled: {kind}": webhook.faulted[kind] for kind in harness.WEBHOOK_FAULTS},
        "webhook posts answered 2xx": sum(n for code, n in answers.items() if code.startswith("2")),
        "webhook posts answered 5xx (Telegram redelivers)": sum(
            n for code, n in answers.items() if code.startswith("5")
        ),
        "webhook posts with no answer": answers["none"],
        "slowest webhook answer, seconds": round(webhook.slowest),
        "users prompted exactly once": sum(1 for u in seeded.user_ids if prompts[u] == 1),
        "prompts missed": sum(1 for u in seeded.user_ids if prompts[u] == 0),
        "prompts doubled": len(doubled(api, plan.prompt)),
        "check-ins acknowledged on Telegram": len(acks),
        "acknowledged check-ins lost (no check_ins row)": sum(1 for u in acks if not check_ins.get(u)),
        "check-ins recorded twice": sum(1 for n in check_ins.values() if n > 1),
        "check-ins never acknowledged": sum(1 for u in seeded.user_ids if not acks[u]),
        "acknowledgements doubled": len(doubled(api, plan.ack)),
        "users in a valid state": states - invalid,
        "users in an invalid state": invalid,
        "users who gave up (stuck, or 25 updates without an acknowledgement)": sum(
            1 for run in finished if run.gave_up
        ),
        "updates posted (distinct)": len(webhook.posted),
        "updates accepted, then never handled": len(webhook.accepted - processed),
        "outbox rows failed": await harness.outbox_failed(engine),
        "outbox rows still open at the end": await harness.outbox_open(engine),
    }


BROKEN_IF_NONZERO = (
    "prompts missed",
    "prompts doubled",
    "acknowledged check-ins lost (no check_ins row)",
    "check-ins recorded twice",
    "check-ins never acknowledged",
    "acknowledgements doubled",
    "users in an invalid state",
    "updates accepted, then never handled",
    "outbox rows failed",
    "outbox rows still open at the end",
)


PROMISES = harness.Promises(
    lost=(
        "acknowledged check-ins lost (no check_ins row)",
        "updates accepted, then never handled",
        "prompts missed",
        "check-ins never acknowledged",
    ),
    doubled=("prompts doubled", "acknowledgements doubled", "check-ins recorded twice"),
    invalid=("users in an invalid state",),
)


def injected(counts: dict[str, int], args: argparse.Namespace) -> int:
    """How many faults the run injected (a run with none proves nothing)."""
    if args.fault == "webhook":
        return sum(counts[f"webhook deliveries spoiled: {kind}"] for kind in harness.WEBHOOK_FAULTS)
    if args.fault == "outage":
        return counts["database cuts"]
    return sum(counts[f"  failed: {kind}"] for kind in PRESS_FAULT_KINDS)


def verdict(counts: dict[str, int], args: argparse.Namespace) -> list[str]:
    broken = harness.nonzero(counts, BROKEN_IF_NONZERO)
    if counts["users in a valid state"] != counts["users"]:
        broken.append("not every user has a state")
    if not injected(counts, args):
        broken.append("no fault was injected")
    held_up = counts["slowest webhook answer, seconds"] >= args.outage_seconds / 2
    if (
        args.fault == "outage"
        and not held_up
        and not counts["webhook posts answered 5xx (Telegram redelivers)"]
    ):
        broken.append("the outage never reached a turn (no 5xx, no answer held up)")
    return broken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_proof(
        f"turns-{args.fault}", lambda workdir: prove(args, workdir), lambda counts: verdict(counts, args)
    )


if __name__ == "__main__":
    sys.exit(main())
