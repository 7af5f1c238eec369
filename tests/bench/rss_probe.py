"""A bot process for the memory figure: the real application, coach and storage on one database.

Run by run.py as a subprocess: it serves check-in turns from distinct users through
Application.process_update (offline Bot API), polls for due prompts once as the dispatcher does,
and prints its resident memory as JSON: {"rss_kb": ..., "hwm_kb": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # import as tests.bench.*, never shadowing installed modules

from hipcoach.bot.bootstrap import tune_garbage_collection  # noqa: E402
from tests.bench import bots, seed  # noqa: E402


def memory_kb() -> dict[str, int]:
    wanted = {"VmRSS": "rss_kb", "VmHWM": "hwm_kb"}
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key = line.split(":", 1)[0]
            if key in wanted:
                found[wanted[key]] = int(line.split()[1])
    return found


async def serve(url: str, population: seed.Population, turns: int, part: int, parts: int) -> dict[str, int]:
    bots.UPDATE_IDS = itertools.count(20_000_000 + part * 1_000_000)  # the database is reused by parts
    clock = bots.Clock(seed.TURN_NOW)
    running = await bots.real_bot(url, clock)
    try:
        users = population.checkin_users(turns * parts, seed=7)[part * turns : (part + 1) * turns]
        replies = await bots.settled_replies(running, users[0], seed.CHECKIN_TEXT)
        running.api.unchecked()
        for user_id in users[1:]:
            await bots.turn(running, user_id, seed.CHECKIN_TEXT, replies)
        assert running.bot is not None
        await running.bot.database.storage.due_prompts(clock(), 200)
        return memory_kb()
    finally:
        await running.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--due", type=int, default=0)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--parts", type=int, default=1)
    args = parser.parse_args()
    population = seed.Population(args.users, args.due)
    tune_garbage_collection()  # as serve_telegram does
    print(json.dumps(asyncio.run(serve(args.db, population, args.turns, args.part, args.parts))))


if __name__ == "__main__":
    main()
