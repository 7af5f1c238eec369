"""Proof: kill -9 a running bot at random moments, at least 20 times, under load; nothing promised is lost.

    python -m tests.proofs.crash [--users 400] [--kills 24] [--seed 7]

Users are seeded as in the replicas proof (idle, a daily schedule, one session prompt), their prompts
falling due one after another over the first minutes, and one `hipcoach run` serves them behind nginx.
Every user checks in over the webhook once prompted (Start, Done, then one typed sentence: "pain 2,
about right, smooth"); Telegram's side redelivers any update not answered 2xx, and a user whose reply
does not come answers again. Meanwhile the bot is killed with SIGKILL at random moments (seeded: 0.5
to 4 s after each start) and restarted, again and again.

A killed bot's claims on outbox rows lapse after the lease (10 minutes), after which the restarted
bot sends those messages. The proof does not wait ten minutes: after each kill it notes the claimed
rows (all the dead bot's: it is the only one) and moves their claims back past the lease.

Promises counted:
- zero acknowledged check-ins lost: every check-in the bot acknowledged on Telegram is in check_ins;
- zero prompts doubled;
- every user in a valid state: a state name of the machine, with data the engine can take a turn on;
- every update Telegram delivered is handled (an update accepted, then lost in a crash, is not).

A message can reach Telegram and the bot die before it commits "sent": the restarted bot sends it
again. That is the at-least-once window of any outbox in front of an API without idempotency keys;
doubles whose first copy was in a row the killed bot still held are counted on their own lines (and
break the promise only with --strict), any other double breaks it. Exits 1 if a promise is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from bot.db import make_engine
from flows import Command, State, step
from flows.machine import STATES
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
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--strict", action="store_true", help="fail on at-least-once doubles too")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the whole run may take")
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


async def prove(args: argparse.Namespace, workdir: Path) -> dict[str, int]:
    started, since = time.monotonic(), time.time()
    deadline = started + args.timeout
    content = harness.content()
    rng = random.Random(args.seed)
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(harness.postgres())
        await harness.migrate(database)
        user_ids = range(20_000_001, 20_000_001 + args.users)
        seeded = await harness.seed_users(database, user_ids, harness.utc_now(), content)
        await spread_prompts(database, seeded, args.spread)
        plan = harness.transcript(seeded, content, harness.utc_now(), ANSWERS)
        log(f"seeded {args.users} users; their session prompts fall due over {args.spread:.0f} s")

        api = FakeTelegram()
        api_url = await stack.enter_async_context(serving(api))
        port = harness.free_port()
        entry = stack.enter_context(harness.nginx([port], harness.free_port()))
        webhook_url = entry + harness.WEBHOOK_PATH
        [bot] = await stack.enter_async_context(
            harness.bots([port], workdir, database, api_url, webhook_url, args.send_rate)
        )
        engine = make_engine(database)
        stack.push_async_callback(engine.dispose)
        client = await stack.enter_async_context(httpx.AsyncClient(trust_env=False))
        webhook = harness.Webhook(api, webhook_url, client)
        runs = [
            harness.check_in(
                webhook,
                user,
                plan,
                ANSWERS,
                prompt_timeout=deadline - time.monotonic(),
                step_timeout=10,
                max_updates=25,
            )
            for user in user_ids
        ]
        users = asyncio.gather(*runs)
        stack.callback(users.cancel)  # if the proof fails half-way, no user waits on

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
        finished = await asyncio.wait_for(users, max(deadline - time.monotonic(), 1))

        async def settled() -> bool:
            return await harness.outbox_open(engine) == 0

        await harness.wait_until(settled, max(deadline - time.monotonic(), 1))
        await asyncio.sleep(6)  # a last round of the dispatcher: nothing more may be sent
        code = await bot.stop()

        counts = await count(args, api, plan, seeded, engine, finished, webhook, content, kills, since)
        counts["bot stopped cleanly at the end (exit 0)"] = int(code == 0)
        counts["runtime seconds"] = round(time.monotonic() - started)
        return counts


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


def doubles(api: FakeTelegram, text: str, kills: list[Kill]) -> tuple[set[int], set[int]]:
    """Users who got `text` more than once: (in the at-least-once window of a kill, otherwise).

    In the window: the first copy reached Telegram before a restart whose killed bot held a row with
    that text for that user, so the bot died between Telegram's answer and the commit marking it sent.
    """
    first: dict[int, float] = {}
    doubled: set[int] = set()
    for sent in api.sent:
        if sent.text == text:
            if sent.chat_id in first:
                doubled.add(sent.chat_id)
            first.setdefault(sent.chat_id, sent.at)
    window = {
        user
        for user in doubled
        for kill in kills
        if first[user] < kill.restarted and any(u == user and text in texts for u, texts in kill.orphans)
    }
    return window, doubled - window


def explain(api: FakeTelegram, users: set[int], kills: list[Kill], since: float) -> None:
    """What a user doubled outside the window saw, against the kills: for finding out why."""
    for user in sorted(users)[:3]:
        print(f"user {user} (seconds since the start; K = a kill; * = held by the killed bot):")
        events = [(m.at - since, f"{m.text[:60]!r} {m.buttons[:1]}") for m in api.messages(user)]
        for kill in kills:
            held = [texts[0][:40] for u, texts in kill.orphans if u == user]
            events.append((kill.at - since, f"K {'* ' + repr(held) if held else ''}"))
        for at, what in sorted(events):
            print(f"  {at:9.3f}  {what}")


async def count(args, api, plan, seeded, engine, finished, webhook, content, kills, since) -> dict[str, int]:
    prompts = Counter(s.chat_id for s in api.sent if s.text == plan.prompt)
    acks = Counter(s.chat_id for s in api.sent if s.text == plan.ack)
    check_ins = dict(
        await harness.rows(
            engine,
            "SELECT user_id, count(*) FROM check_ins WHERE checked_in_at > :seeded GROUP BY user_id",
            seeded=seeded.session_due,
        )
    )
    invalid = 0
    now = harness.utc_now()
    for name, data in await harness.rows(engine, "SELECT name, data FROM dialogue_states"):
        try:
            step(State.from_json({"name": name, "data": data}), Command("help"), now, content)
            invalid += name not in STATES  # the engine took a turn on it; is it a state of the machine?
        except Exception:
            invalid += 1
    states = await harness.scalar(engine, "SELECT count(*) FROM dialogue_states")
    processed = {u for (u,) in await harness.rows(engine, "SELECT update_id FROM processed_updates")}
    prompts_in_window, prompts_otherwise = doubles(api, plan.prompt, kills)
    acks_in_window, acks_otherwise = doubles(api, plan.ack, kills)
    explain(api, prompts_otherwise | acks_otherwise, kills, since)
    return {
        "users": args.users,
        "kill -9 (each followed by a restart)": len(kills),
        "outbox rows the killed bot held (sent after the lease)": sum(len(k.orphans) for k in kills),
        "users prompted exactly once": sum(1 for u in seeded.user_ids if prompts[u] == 1),
        "prompts missed (users with 0)": sum(1 for u in seeded.user_ids if prompts[u] == 0),
        "prompts doubled in the at-least-once window": len(prompts_in_window),
        "prompts doubled otherwise": len(prompts_otherwise),
        "check-ins acknowledged on Telegram": len(acks),
        "acknowledged check-ins lost (no check_ins row)": sum(1 for u in acks if not check_ins.get(u)),
        "check-ins recorded twice": sum(1 for n in check_ins.values() if n > 1),
        "acknowledgements doubled in the at-least-once window": len(acks_in_window),
        "acknowledgements doubled otherwise": len(acks_otherwise),
        "users in a valid state": states - invalid,
        "users in an invalid state": invalid,
        "users whose check-in was never acknowledged": args.users - len(acks),
        "users who gave up waiting (answered 25 times)": sum(1 for run in finished if not run.acknowledged),
        "updates posted (distinct)": len(webhook.posted),
        "deliveries retried by Telegram (bot down)": webhook.redeliveries,
        "updates accepted, then never handled": len(webhook.accepted - processed),
        "outbox rows failed": await harness.outbox_failed(engine),
    }


AT_LEAST_ONCE = (
    "prompts doubled in the at-least-once window",
    "acknowledgements doubled in the at-least-once window",
)
BROKEN_IF_NONZERO = (
    "prompts missed (users with 0)",
    "prompts doubled otherwise",
    "acknowledged check-ins lost (no check_ins row)",
    "check-ins recorded twice",
    "acknowledgements doubled otherwise",
    "users in an invalid state",
    "users whose check-in was never acknowledged",
    "updates accepted, then never handled",
    "outbox rows failed",
)


def verdict(counts: dict[str, int], strict: bool) -> list[str]:
    names = BROKEN_IF_NONZERO + (AT_LEAST_ONCE if strict else ())
    broken = [f"{name}: {counts[name]}" for name in names if counts[name]]
    if counts["kill -9 (each followed by a restart)"] < 20:
        broken.append("fewer than 20 kills")
    if counts["users in a valid state"] != counts["users"]:
        broken.append("not every user has a state")
    return broken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = "Telegram had the message when the bot died, before it could commit 'sent' (README, Proofs)"
    return harness.run_proof(
        "crash",
        lambda workdir: prove(args, workdir),
        lambda counts: verdict(counts, args.strict),
        lambda counts: sum(counts[name] for name in AT_LEAST_ONCE),
        why,
    )


if __name__ == "__main__":
    sys.exit(main())
