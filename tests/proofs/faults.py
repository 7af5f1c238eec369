"""Proof: with 20% of Telegram's answers failing, every prompt reaches every user who has not blocked the bot,
once, and nothing more goes to those who have.

    python -m tests.proofs.faults [--users 100] [--fault-rate 0.2] [--blocked 0.05] [--seed 11]

Users are seeded as in the replicas proof, and three `hipcoach run` replicas dispatch two rounds of
prompts: first the session prompt, then (once every session prompt is settled) the weekly summary.
The fake Bot API fails a seeded 20% of the sends, evenly: 429 with retry_after 1, a 5xx, a request
swallowed with no answer before the client's 5 s read timeout ("lost"), and a message delivered whose
answer comes after that timeout ("late"). A seeded 5% of users blocked the bot: every send to them is
answered 403.

Promises counted:
- no user gets the session prompt or the weekly summary twice;
- every user who has not blocked the bot gets both, except where a send of it got no answer
  (`lost` or `late`): the bot cannot tell which of the two it was, so it never sends that message
  again. After a `late` one the user has it; after a `lost` one they miss it. Those misses are counted
  on their own line and break the promise only with --strict;
- every send Telegram left unanswered is one the bot recorded as unconfirmed (outbox.unconfirmed);
- after a user's first 403, nothing more is sent to them (they are marked inactive).

Exits 1 if a promise is broken.
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

from sqlalchemy import text

from hipcoach.bot.storage.db import make_engine
from tests.proofs import harness
from tests.proofs.fake_telegram import SEND_METHODS, FakeTelegram, Faults, serving
from tests.proofs.harness import log


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--blocked", type=float, default=0.05, help="share of users who blocked the bot")
    parser.add_argument("--kinds", default="429,5xx,lost,late", help="fault kinds, comma-separated")
    parser.add_argument("--send-rate", type=int, default=30, help="HIPCOACH_SEND_RATE for the run")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--strict", action="store_true", help="fail on messages missed after a lost request too"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds the whole run may take")
    return parser.parse_args(argv)


async def settle(engine, kind: str, deadline: float) -> bool:
    """Until no prompt of `kind` is due and pending, and the outbox is empty."""

    async def settled() -> bool:
        due = await harness.scalar(
            engine,
            "SELECT count(*) FROM prompts WHERE kind = :kind AND status = 'pending' AND due_at <= now()",
            kind=kind,
        )
        return due == 0 and await harness.outbox_open(engine) == 0

    return await harness.wait_until(settled, max(deadline - time.monotonic(), 1), every=1)


async def prove(args: argparse.Namespace, workdir: Path, server: str | None = None) -> dict[str, int]:
    """The proof's counts; on `server` if given, else on the tests' own PostgreSQL."""
    started = time.monotonic()
    deadline = started + args.timeout
    content = harness.content()
    rng = random.Random(args.seed)
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(harness.postgres(server))
        await harness.migrate(database)
        user_ids = range(30_000_001, 30_000_001 + args.users)
        seeded = await harness.seed_users(database, user_ids, harness.utc_now(), content)
        plan = harness.transcript(seeded, content, harness.utc_now())
        blocked = frozenset(rng.sample(list(user_ids), round(args.users * args.blocked)))
        faults = Faults(
            rate=args.fault_rate,
            seed=args.seed,
            kinds=tuple(args.kinds.split(",")),
            methods=SEND_METHODS,
            blocked=blocked,
        )
        log(
            f"seeded {args.users} users ({len(blocked)} blocked the bot); {args.fault_rate:.0%} of sends fail"
        )

        api = FakeTelegram(faults)
        api_url = await stack.enter_async_context(serving(api))
        ports = [harness.free_port() for _ in range(args.replicas)]
        webhook_url = f"http://{harness.HOST}:{ports[0]}{harness.WEBHOOK_PATH}"  # no updates in this proof
        replicas = await stack.enter_async_context(
            harness.bots(ports, workdir, database, api_url, webhook_url, args.send_rate)
        )
        engine = make_engine(database)
        stack.push_async_callback(engine.dispose)

        if not await settle(engine, "session", deadline):
            log("time is up before every session prompt was settled")
        log(
            f"session prompts settled after {time.monotonic() - started:.0f} s; weekly summaries fall due now"
        )
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE prompts SET due_at = now() WHERE kind = 'weekly' AND status = 'pending'")
            )
        await asyncio.sleep(1)
        if not await settle(engine, "weekly", deadline):
            log("time is up before every weekly summary was settled")
        await asyncio.sleep(6)  # a last round of every dispatcher: nothing more may be sent
        exits = [await replica.stop() for replica in replicas]

        counts = await count(args, api, plan.prompt, weekly_start(content), seeded, blocked, engine)
        counts["users in an invalid state"] = await harness.invalid_states(engine, content)
        counts["replicas stopped cleanly (exit 0)"] = sum(code == 0 for code in exits)
        counts["runtime seconds"] = round(time.monotonic() - started)
        return counts


def weekly_start(content) -> str:
    """The weekly summary's fixed opening words (the rest is the user's week)."""
    return content.message("weekly_summary").split("{", 1)[0].strip()


def deliveries(api: FakeTelegram, text_of) -> Counter[int]:
    """Per chat: how many times a prompt was delivered."""
    return Counter(sent.chat_id for sent in api.sent if text_of(sent.text))


async def count(args, api, prompt, weekly, seeded, blocked, engine) -> dict[str, int]:
    reachable = [u for u in seeded.user_ids if u not in blocked]
    outcomes = api.outcomes(SEND_METHODS)
    calls = sum(outcomes.values())
    recorded = await harness.unconfirmed(engine)
    counts: dict[str, int] = {
        "users": args.users,
        "users who blocked the bot (403)": len(blocked),
        "send calls to Telegram": calls,
        "  failed: 429 retry_after": outcomes["429"],
        "  failed: 5xx": outcomes["5xx"],
        "  failed: no answer in time, not delivered (lost)": outcomes["lost"],
        "  failed: no answer in time, delivered (late)": outcomes["late"],
        "  failed: 403 blocked": outcomes["403"],
        "  failed, percent of calls": round(100 * (calls - outcomes["ok"]) / max(calls, 1)),
        "sends left unanswered (lost + late)": outcomes["lost"] + outcomes["late"],
        "sends the bot recorded as unconfirmed": recorded.parts,
    }
    kinds = (("session prompt", lambda t: t == prompt), ("weekly summary", lambda t: t.startswith(weekly)))
    for name, matches in kinds:
        delivered = deliveries(api, matches)
        missed = [u for u in reachable if delivered[u] == 0]
        lost = [u for u in missed if any(recorded.covers(u, t) for t in texts_to(api, u, "lost", matches))]
        counts |= {
            f"{name}: reachable users who got it exactly once": sum(
                1 for u in reachable if delivered[u] == 1
            ),
            f"{name}: duplicated": sum(1 for u in reachable if delivered[u] > 1),
            f"{name}: missed, its request lost and not repeated": len(lost),
            f"{name}: missed otherwise": len(missed) - len(lost),
        }
    first_403: dict[int, float] = {}
    after = 0
    for call in api.calls:
        if call.chat_id in blocked and call.method in SEND_METHODS:
            if call.chat_id in first_403:
                after += 1
            elif call.outcome == "403":
                first_403[call.chat_id] = call.at
    inactive = await harness.scalar(
        engine, "SELECT count(*) FROM users WHERE NOT active AND id = ANY(:ids)", ids=list(blocked)
    )
    counts |= {
        "blocked users marked inactive": inactive,
        "sends to a blocked user after their first 403": after,
        "messages delivered to blocked users": sum(len(api.messages(u)) for u in blocked),
        "outbox rows failed": await harness.outbox_failed(engine),
    }
    return counts


def texts_to(api: FakeTelegram, chat_id: int, outcome: str, matches) -> list[str]:
    """The texts of the sends to a chat that met `outcome` and match."""
    return [c.text for c in api.calls if c.chat_id == chat_id and c.outcome == outcome and matches(c.text)]


BROKEN_IF_NONZERO = (
    "session prompt: duplicated",
    "session prompt: missed otherwise",
    "weekly summary: duplicated",
    "weekly summary: missed otherwise",
    "sends to a blocked user after their first 403",
    "messages delivered to blocked users",
    "outbox rows failed",
    "users in an invalid state",
)
AT_MOST_ONCE = (
    "session prompt: missed, its request lost and not repeated",
    "weekly summary: missed, its request lost and not repeated",
)


PROMISES = harness.Promises(
    lost=("session prompt: missed otherwise", "weekly summary: missed otherwise"),
    doubled=("session prompt: duplicated", "weekly summary: duplicated"),
    invalid=("users in an invalid state",),
)


def verdict(counts: dict[str, int], strict: bool) -> list[str]:
    broken = harness.nonzero(counts, BROKEN_IF_NONZERO + (AT_MOST_ONCE if strict else ()))
    if counts["sends the bot recorded as unconfirmed"] != counts["sends left unanswered (lost + late)"]:
        broken.append("an unanswered send the bot did not record as unconfirmed (or the other way round)")
    if counts["blocked users marked inactive"] != counts["users who blocked the bot (403)"]:
        broken.append("a user who blocked the bot is still marked active")
    return broken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = "their one request got no answer, and a second could have doubled them (docs/proofs.md)"
    return harness.run_proof(
        "faults",
        lambda workdir: prove(args, workdir),
        lambda counts: verdict(counts, args.strict),
        lambda counts: sum(counts[name] for name in AT_MOST_ONCE),
        why,
    )


if __name__ == "__main__":
    sys.exit(main())
