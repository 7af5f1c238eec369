"""Simulated time for concurrent senders: the clock moves only once every task waits in `sleep`, to
the earliest moment one of them asked for; no real time passes, and every run is the same."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any


class SimulatedTime:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + timedelta(seconds=seconds), next(self._order), wake))
        await wake

    async def run(self, *work: Coroutine[Any, Any, Any]) -> list[Any]:
        """Run `work` to its end, moving the clock whenever all of it is asleep; the results, in order."""
        tasks = [asyncio.create_task(each) for each in work]
        while not all(task.done() for task in tasks):
            awake = sum(not task.done() for task in tasks) - len(self._sleepers)
            if awake or not self._sleepers:
                await asyncio.sleep(0)  # a task is still running (or waiting on real I/O, a database)
                continue
            moment, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, moment)
            wake.set_result(None)
            await asyncio.sleep(0)
        return [task.result() for task in tasks]
