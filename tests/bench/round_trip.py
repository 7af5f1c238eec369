"""Check-ins per second when each Bot API call takes a round trip: one update at a time against several.

`python tests/bench/round_trip.py [--rtt 0.05] [--checkins 400] [--limited]`

Check-ins of distinct users (a stored population of 1,000 waiting to check in, seed.py) are put on the
application's update queue, as polling does, and timed until every reply has reached the offline Bot
API, which answers each call after `rtt` seconds. "one at a time" is python-telegram-bot's default
update processor (how the bot ran before); "in flight" is the one bootstrap builds
(bot/telegram/update_order.py). Rate limiters are lifted unless `--limited` (then 30 messages/s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # import as tests.bench.*, never shadowing installed modules

from telegram import Update  # noqa: E402
from telegram.ext import SimpleUpdateProcessor  # noqa: E402

from hipcoach.bot.bootstrap import build_telegram  # noqa: E402
from hipcoach.bot.telegram import app as telegram_app  # noqa: E402
from tests.bench import bots, seed  # noqa: E402
from tests.telegram.fake_bot_api import OfflineRequest  # noqa: E402

POPULATION = seed.Population(1_000, 0)


def log(line: str) -> None:
    print(line, file=sys.stderr)


class RoundTrip(OfflineRequest):
    """The offline Bot API, answering each call after a simulated network round trip."""

    def __init__(self, api: bots.BenchApi, rtt: float) -> None:
        super().__init__(api, bots.BASE_URL)
        self.rtt = rtt

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        await asyncio.sleep(self.rtt)
        return await super().do_request(*args, **kwargs)


def one_at_a_time() -> SimpleUpdateProcessor:
    return SimpleUpdateProcessor(1)


async def checkins_per_second(
    url: str, users: list[int], rtt: float, serial: bool, limited: bool
) -> tuple[float, float, float]:
    """Check-ins handled per second, every reply delivered, with updates taken from the queue; and the
    process's CPU milliseconds and Bot API calls per check-in (CPU time is what a loaded machine shares)."""
    api = bots.offline_api()
    api.unchecked()
    request = RoundTrip(api, rtt)
    patches = [] if limited else [mock.patch.object(telegram_app, "AIORateLimiter", bots.lifted_limiter)]
    if serial:
        patches.append(mock.patch.object(telegram_app, "OrderedUpdateProcessor", one_at_a_time))
    with contextlib.ExitStack() as patched:
        for patch in patches:
            patched.enter_context(patch)
        built = await build_telegram(
            bots.settings_for(url), clock=bots.Clock(seed.TURN_NOW), request=request, updates_request=request
        )
    if not limited:
        built.sender.limiter = None
    try:
        async with built.application as application:
            await application.start()
            started, cpu, calls = time.perf_counter(), time.process_time(), len(api.calls)
            for user_id in users:
                update = bots.text_update(user_id, seed.CHECKIN_TEXT)
                await application.update_queue.put(Update.de_json(update, application.bot))
            await application.update_queue.join()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            calls = len(api.calls) - calls
            messages = len(api.sent_at)
            await application.stop()
        last = await built.database.storage.load_state(users[-1])
        assert last.name != "checkin_pain", "the check-in turn did not commit"
    finally:
        await built.database.close()
    count = len(users)
    log(f"{'one at a time' if serial else 'in flight'}: {messages / elapsed:.1f} messages/s sent")
    return count / elapsed, 1000 * cpu / count, calls / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, default=0.05, help="seconds per Bot API call")
    parser.add_argument("--checkins", type=int, default=400)
    parser.add_argument("--limited", action="store_true", help="keep the 30 messages/s limiters")
    args = parser.parse_args()
    template = seed.sqlite_template(POPULATION, lambda *_: None)
    users = POPULATION.checkin_users(2 * args.checkins, seed=7)
    figures, cpu_ms, calls = {}, {}, {}
    with tempfile.TemporaryDirectory() as work:
        for name, serial, chunk in (("one_at_a_time", True, users[::2]), ("in_flight", False, users[1::2])):
            url = seed.sqlite_copy(template, Path(work), name)
            rate, cpu, per = await checkins_per_second(
                url, chunk[: args.checkins], args.rtt, serial, args.limited
            )
            figures[name], cpu_ms[name], calls[name] = round(rate, 1), round(cpu, 1), round(per, 1)
    load = round(os.getloadavg()[0], 1)
    print(
        json.dumps(
            {
                "rtt_s": args.rtt,
                "limited": args.limited,
                "checkins_per_s": figures,
                "cpu_ms_per_checkin": cpu_ms,
                "bot_api_calls_per_checkin": calls,
                "load_average": load,
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
