"""Proof: kill -9 a running bot at random moments, at least 20 times, under load; nothing promised is lost.

    python -m tests.proofs.crash [--users 400] [--kills 24] [--seed 7]

Users are seeded as in the replicas proof (idle, a daily schedule, one session prompt), their prompts
falling due one after another over the first minutes, and one `hipcoach run` serves them behind nginx.
Every user checks in over the webhook once prompted (Start, Done, then one typed sentence: "pain 2,
about right, smooth"); Telegram's side redelivers any update not answered 2xx, and a user whose reply
does not come answers again. Meanwhile the bot is killed with SIGKILL at random moments (seeded: 0.5
to 4 s after each start) and restarted, again and again.

A killed bot's claims on outbox rows lapse once its heartbeat stops refreshing them (a lease of 30 s),
after which the restarted bot sends those messages. The proof does not wait for that: after each kill
it notes the claimed rows (all the dead bot's: it is the only one) and moves their claims back past
the lease.

Promises counted:
- zero acknowledged check-ins lost: every check-in the bot acknowledged on Telegram is in check_ins;
- zero prompts doubled;
- every user in a valid state: a state name of the machine, with data the engine can take a turn on;
- every update Telegram delivered is handled (an update accepted, then lost in a crash, is not).

A bot can die while a message's request is under way: whether Telegram got it, nobody can tell. The
bot notes each part of a message as in flight before its request, so the restarted bot knows which
one it was, counts it unconfirmed and never sends it again (bot/storage/outbox.py). A prompt or an
acknowledgement that misses a user that way is counted on its own line (and breaks the promise only
with --strict); any double, and any other miss, breaks it. Exits 1 if a promise is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from hipcoach.bot.storage.db import make_engine
from tests.proofs import harness
from tests.proofs.fake_telegram import FakeTelegram, serving
from tests.proofs.harness import log

CHECK_IN = harness.Text("pain 2, about right, smooth")
ANSWERS = {**harness.ANSWERS, "checkin_pain": CHECK_IN}


@dataclass(frozen=True)
class Kill:
    """When the bot was killed and restarted, and the outbox rows it held: (user, texts) of each.

    Requests the killed bot had already sent can reach the fake Telegram a moment after the kill,
    but never after the restart: only the killed bot could have sent them.
    """

    at: float
    restarted: float
    orphans: tuple[tuple[int, tuple[str, ...]], ...]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--spread", type=float, default=90, help="seconds over which the prompts fall due")
    parser.add_argument("--send-rate", type=int, default=60, help="HIPCOACH_SEND_RATE for the run")
    parser.add_argument("--step-timeout", type=float, default=10, help="seconds a user waits for a reply")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--strict", action="store_true", help="fail on misses of a send in flight too")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the whole run may take")
    parser.add_argument("--balancer", action="store_true", help="our own balancer in front, not nginx")
    return parser.parse_args(argv)


async def spread_prompts(database: str, seeded: harness.Seeded, seconds: float) -> None:
    """The session prompts fall due one after another over `seconds`, from the seeded due time on."""
    engine = make_engine(database)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE prompts SET due_at = due_at + (user_id - :first) * :step * interval '1 second' "
                    "WHERE kind = 'session' AND status = 'pending'"
                ),
                {"first": seeded.user_ids[0], "step": seconds / len(seeded.user_ids)},
            )
    finally:
        await engine.dispose()


async def prove(args: argparse.Namespace, workdir: Path, server: str | None = None) -> dict[str, int]:
    """The proof's counts; on `server` if given, else on the tests' own PostgreSQL."""
    started, since = time.monotonic(), time.time()
    deadline = started + args.timeout
    content = harness.content()
    rng = random.Random(args.seed)
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(harness.postgres(server))
        await harness.migrate(database)
        user_ids = range(20_000_001, 20_000_001 + args.users)
        seeded = await harness.seed_users(database, user_ids, harness.utc_now(), content)
        await spread_prompts(database, seeded, args.spread)
        plan = harness.transcript(seeded, content, harness.utc_now(), ANSWERS)
        log(f"seeded {args.users} users; their session prompts fall due over {args.spread:.0f} s")

        api = FakeTelegram()
        api_url = await stack.enter_async_context(serving(api))
        port = harness.free_port()
        entry = await stack.enter_async_context(harness.entry_point([port], balancer=args.balancer))
        webhook_url = entry + harness.WEBHOOK_PATH
        [bot] = await stack.enter_async_context(
            harness.bots([port], workdir, database, api_url, webhook_url, args.send_rate)
        )
        engine = make_engine(database)
        stack.push_async_callback(engine.dispose)
        client = await stack.enter_async_context(httpx.AsyncClient(trust_env=False))
        webhook = harness.Webhook(api, webhook_url, client)
        runs = [
            asyncio.create_task(
                harness.check_in(
                    webhook,
                    user,
                    plan,
                    ANSWERS,
                    prompt_timeout=deadline - time.monotonic(),
                    step_timeout=args.step_timeout,
                    max_updates=25,
                )
            )
            for user in user_ids
        ]
        stack.callback(
            lambda: [run.cancel() for run in runs]
        )  # if the proof fails half-way, no user waits on

        kills: list[Kill] = []
        for number in range(1, args.kills + 1):
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            bot.kill()
            killed = time.time()
            orphans = await take_orphans(engine)
            kills.append(Kill(killed, time.time(), orphans))
            bot.start()
            log(
                f"kill -9 {number}: {len(kills[-1].orphans)} outbox rows were claimed; restarting "
                f"(check-ins acknowledged so far: {len({s.chat_id for s in api.sent if s.text == plan.ack})})"
            )
            await bot.wait_ready()
        log("kills done; the users finish their check-ins")
        await harness.wait_until(
            lambda: finished_or_unprompted(runs, user_ids, api, plan, engine),
            max(deadline - time.monotonic(), 1),
        )
        finished = [run.result() for run in runs if run.done() and not run.cancelled()]
        await asyncio.sleep(6)  # a last round of the dispatcher: nothing more may be sent
        code = await bot.stop()

        counts = await count(args, api, plan, seeded, engine, finished, webhook, content, kills, since)
        counts["bot stopped cleanly at the end (exit 0)"] = int(code == 0)
        counts["runtime seconds"] = round(time.monotonic() - started)
        return counts


async def finished_or_unprompted(runs, user_ids, api: FakeTelegram, plan, engine) -> bool:
    """Every user is done, or still waits for a prompt that will never come: the outbox is empty and
    their prompt's send was in flight at a kill (so it is not sent again). Those users stop waiting."""
    if await harness.outbox_open(engine):
        return False
    waiting = [
        (run, user)
        for run, user in zip(runs, user_ids, strict=True)
        if not run.done() and not any(m.text == plan.prompt for m in api.messages(user))
    ]
    if len(waiting) < sum(not run.done() for run in runs):
        return False  # someone is still checking in
    recorded = await harness.unconfirmed(engine)
    if all(recorded.covers(user, plan.prompt) for _, user in waiting):
        for run, _ in waiting:
            run.cancel()
        return True
    return False


async def take_orphans(engine) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """The rows the killed bot held, noted and then let go: their claims moved back past the lease."""
    async with engine.begin() as connection:
        held = (
            await connection.execute(text("SELECT user_id, payload FROM outbox WHERE status = 'sending'"))
        ).all()
        await connection.execute(
            text("UPDATE outbox SET claimed_at = claimed_at - interval '11 minutes' WHERE status = 'sending'")
        )
    return tuple((user, tuple(str(m["text"]) for m in payload)) for user, payload in held)


def doubled(api: FakeTelegram, text: str) -> set[int]:
    """Users who got `text` more than once."""
    copies = harness.sent_by_chat(api, text)
    return {user for user, n in copies.items() if n > 1}


def explain(api: FakeTelegram, users: set[int], kills: list[Kill], since: float) -> None:
    """What a doubled user saw, against the kills: for finding out why."""
    for user in sorted(users)[:3]:
        print(f"user {user} (seconds since the start; K = a kill; * = held by the killed bot):")
        events = [(m.at - since, f"{m.text[:60]!r} {m.buttons[:1]}") for m in api.messages(user)]
        for kill in kills:
            held = [texts[0][:40] for u, texts in kill.orphans if u == user]
            events.append((kill.at - since, f"K {'* ' + repr(held) if held else ''}"))
        for at, what in sorted(events):
            print(f"  {at:9.3f}  {what}")


async def count(args, api, plan, seeded, engine, finished, webhook, content, kills, since) -> dict[str, int]:
    prompts, acks = harness.sent_by_chat(api, plan.prompt), harness.sent_by_chat(api, plan.ack)
    check_ins = await harness.check_ins_since(engine, seeded.session_due)
    invalid = await harness.invalid_states(engine, content)
    states = await harness.scalar(engine, "SELECT count(*) FROM dialogue_states")
    processed = await harness.processed_updates(engine)
    prompts_doubled, acks_doubled = doubled(api, plan.prompt), doubled(api, plan.ack)
    explain(api, prompts_doubled | acks_doubled, kills, since)
    recorded = await harness.unconfirmed(engine)
    unprompted = [u for u in seeded.user_ids if prompts[u] == 0]
    prompt_in_flight = [u for u in unprompted if recorded.covers(u, plan.prompt)]
    unacknowledged = [u for u in seeded.user_ids if u not in acks and u not in prompt_in_flight]
    ack_in_flight = [u for u in unacknowledged if recorded.covers(u, plan.ack) and check_ins.get(u)]
    return {
        "users": args.users,
        "kill -9 (each followed by a restart)": len(kills),
        "outbox rows the killed bot held (sent after the lease)": sum(len(k.orphans) for k in kills),
        "message parts in flight at a kill or unanswered (unconfirmed, not sent again)": recorded.parts,
        "users prompted exactly once": sum(1 for u in seeded.user_ids if prompts[u] == 1),
        "prompts missed: in flight at a kill, not sent again": len(prompt_in_flight),
        "prompts missed otherwise": len(unprompted) - len(prompt_in_flight),
        "prompts doubled": len(prompts_doubled),
        "check-ins acknowledged on Telegram": len(acks),
        "acknowledged check-ins lost (no check_ins row)": sum(1 for u in acks if not check_ins.get(u)),
        "check-ins recorded twice": sum(1 for n in check_ins.values() if n > 1),
        "acknowledgements missed: in flight at a kill, not sent again": len(ack_in_flight),
        "check-ins never acknowledged otherwise": len(unacknowledged) - len(ack_in_flight),
        "acknowledgements doubled": len(acks_doubled),
        "users in a valid state": states - invalid,
        "users in an invalid state": invalid,
        "users who gave up (stuck, or 25 updates without an acknowledgement)": sum(
            1 for run in finished if run.gave_up
        ),
        "updates posted (distinct)": len(webhook.posted),
        "deliveries retried by Telegram (bot down)": webhook.redeliveries,
        "updates accepted, then never handled": len(webhook.accepted - processed),
        "outbox rows failed": await harness.outbox_failed(engine),
    }


AT_MOST_ONCE = (
    "prompts missed: in flight at a kill, not sent again",
    "acknowledgements missed: in flight at a kill, not sent again",
)
BROKEN_IF_NONZERO = (
    "prompts missed otherwise",
    "prompts doubled",
    "acknowledged check-ins lost (no check_ins row)",
    "check-ins recorded twice",
    "check-ins never acknowledged otherwise",
    "acknowledgements doubled",
    "users in an invalid state",
    "updates accepted, then never handled",
    "outbox rows failed",
)


PROMISES = harness.Promises(
    lost=(
        "acknowledged check-ins lost (no check_ins row)",
        "updates accepted, then never handled",
        "prompts missed otherwise",
        "check-ins never acknowledged otherwise",
    ),
    doubled=("prompts doubled", "acknowledgements doubled", "check-ins recorded twice"),
    invalid=("users in an invalid state",),
)


def verdict(counts: dict[str, int], strict: bool, least_kills: int = 20) -> list[str]:
    broken = harness.nonzero(counts, BROKEN_IF_NONZERO + (AT_MOST_ONCE if strict else ()))
    if counts["kill -9 (each followed by a restart)"] < least_kills:
        broken.append(f"fewer than {least_kills} kills")
    if counts["users in a valid state"] != counts["users"]:
        broken.append("not every user has a state")
    return broken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = "the bot died during their request, and a second could have doubled them (docs/proofs.md)"
    return harness.run_proof(
        "crash",
        lambda workdir: prove(args, workdir),
        lambda counts: verdict(counts, args.strict),
        lambda counts: sum(counts[name] for name in AT_MOST_ONCE),
        why,
    )


if __name__ == "__main__":
    sys.exit(main())
