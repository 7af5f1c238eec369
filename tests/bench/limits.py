"""Telegram's 30 messages a second, at a real round trip: how much of it we use, and never more.

Two sources of messages, each through build_application's real sender and limiters (the send-slot
limiter: in memory on SQLite, the `send_slots` table on PostgreSQL; AIORateLimiter with only its
per-group limit), against the fake Bot API answering after a round trip with +-20% jitter:
- prompts: a window of prompts all due at once (`TELEGRAM_LIMIT * seconds`), `Dispatcher.run_due`;
- replies: check-ins of as many distinct users put on the application's update queue at once, as
  polling hands them over, handled by the application's own update processing.
limit_use is messages/s from the start to the last message, over 30; seconds_over counts clock
seconds with more than 30 messages; the most in any sliding second is reported beside it, and the
most one chat got in any sliding second (from the per-chat send times) in the JSON.
prompts_per_s: the same prompts with the limits lifted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from telegram import Update

from tests.bench import bots, seed

TELEGRAM_LIMIT = 30
JITTER = 0.2


@dataclass
class Windows:
    use: list[float] = field(default_factory=list)
    over: list[float] = field(default_factory=list)
    busiest: list[float] = field(default_factory=list)
    busiest_chat: list[float] = field(default_factory=list)  # one chat's most in a sliding second

    def add(self, times: list[float], started: float, api: bots.BenchApi) -> None:
        over, busiest = seconds_over(times, TELEGRAM_LIMIT)
        self.use.append(len(times) / (times[-1] - started) / TELEGRAM_LIMIT)
        self.over.append(over)
        self.busiest.append(busiest)
        per_chat = (
            seconds_over([moment for moment in sent if moment >= started], 1)[1]
            for sent in api.sent_by_chat.values()
        )
        self.busiest_chat.append(max(per_chat, default=0))


def seconds_over(times: list[float], limit: int) -> tuple[int, int]:
    """Clock seconds (UTC, whole) with more than `limit` messages, and the most in any sliding second."""
    times = sorted(times)
    buckets: dict[int, int] = {}
    for moment in times:
        buckets[int(moment)] = buckets.get(int(moment), 0) + 1
    busiest, low = 0, 0
    for high, moment in enumerate(times):
        while moment - times[low] >= 1.0:
            low += 1
        busiest = max(busiest, high - low + 1)
    return sum(1 for count in buckets.values() if count > limit), busiest


async def prompt_windows(url: str, rtt: float, seconds: int, runs: int) -> Windows:
    """Windows of prompts, all due at once, through the real application's sender and limiters."""
    clock = bots.Clock(seed.TURN_NOW)
    running = await bots.real_bot(url, clock, limited=True, rtt=rtt, jitter=JITTER)
    assert running.bot is not None
    dispatcher = running.bot.dispatcher
    window = TELEGRAM_LIMIT * seconds
    found = Windows()
    try:
        released = TELEGRAM_LIMIT  # a warm-up second of prompts first
        clock.now = seed.due_clock(released)
        await dispatcher.run_due()
        running.api.unchecked()
        for _ in range(runs):
            await asyncio.sleep(1.5)  # the limiters start each window rested
            released += window
            clock.now = seed.due_clock(released)
            first = len(running.api.sent_at)
            started = time.time()
            sent = await dispatcher.run_due()
            times = running.api.sent_at[first:]
            assert sent == window and len(times) >= window, (sent, len(times))
            found.add(times, started, running.api)
    finally:
        await running.close()
    return found


async def reply_windows(
    url: str, population: seed.Population, rtt: float, seconds: int, runs: int
) -> Windows:
    """Windows of check-ins from distinct users, all arriving at once, answered through the update queue."""
    clock = bots.Clock(seed.TURN_NOW)
    running = await bots.real_bot(url, clock, limited=True, rtt=rtt, jitter=JITTER)
    assert running.bot is not None
    application = running.application
    waiting = population.users - population.due  # users asked how their session went
    users = population.checkin_users(min(waiting, TELEGRAM_LIMIT * seconds * runs + 1), seed=11)
    replies = await bots.settled_replies(running, users.pop(), seed.CHECKIN_TEXT)
    running.api.unchecked()
    per_window = max(1, TELEGRAM_LIMIT * seconds // replies)
    assert per_window * runs <= len(users), f"{per_window * runs} check-ins wanted, {len(users)} users wait"
    found = Windows()
    try:
        await application.start()
        for index in range(runs):
            await asyncio.sleep(1.5)
            chunk = users[index * per_window : (index + 1) * per_window]
            first = len(running.api.sent_at)
            started = time.time()
            for user_id in chunk:
                update = bots.text_update(user_id, seed.CHECKIN_TEXT)
                await application.update_queue.put(Update.de_json(update, application.bot))
            await application.update_queue.join()
            deadline = time.monotonic() + 60 + seconds
            while len(running.api.sent_at) - first < per_window * replies and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            times = running.api.sent_at[first:]
            assert len(times) >= per_window * replies, (len(times), per_window * replies)
            found.add(times, started, running.api)
    finally:
        if application.running:
            await application.stop()
        await running.close()
    return found


async def prompts_per_second(url: str, rtt: float, claim: int, runs: int, due_from: int) -> list[float]:
    """Prompts/s through Dispatcher.run_due and the application's sender, limits lifted."""
    clock = bots.Clock(seed.TURN_NOW)
    running = await bots.real_bot(url, clock, rtt=rtt, jitter=JITTER)
    running.api.unchecked()
    assert running.bot is not None
    dispatcher = running.bot.dispatcher
    rates: list[float] = []
    try:
        for index in range(runs + 1):  # a warm-up run first
            clock.now = seed.due_clock(due_from + (index + 1) * claim)
            started = time.perf_counter()
            sent = await dispatcher.run_due()
            elapsed = time.perf_counter() - started
            assert sent == claim, (sent, claim)
            if index:
                rates.append(sent / elapsed)
    finally:
        await running.close()
    return rates


def describe(found: Windows) -> dict[str, Any]:
    return {
        "seconds_over_limit": found.over,
        "busiest_second": found.busiest,
        "busiest_chat_second": found.busiest_chat,
    }
