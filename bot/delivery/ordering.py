"""Order without head-of-line blocking: one key's work runs one at a time, in the order it asked.

Updates and outbox rows are handled many at once; a user's own must still go one after another, or a
quick second answer could be read before the first. A lock per key gives that: different keys never
wait for each other, and the same key's waiters are served first come, first served (asyncio.Lock
wakes its waiters in order). A key's lock is dropped once no one holds it or waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Turns:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # holders and waiters


class KeyedOrder:
    """One holder per key at a time, first come, first served; other keys go on meanwhile."""

    def __init__(self) -> None:
        self._turns: dict[Hashable, _Turns] = {}

    @asynccontextmanager
    async def __call__(self, key: Hashable) -> AsyncIterator[None]:
        # No await before the lock is asked for: callers line up in the order they call.
        turns = self._turns.setdefault(key, _Turns())
        turns.waiting += 1
        try:
            async with turns.lock:
                yield
        finally:
            turns.waiting -= 1
            if not turns.waiting:
                del self._turns[key]

    def __len__(self) -> int:
        """Keys with a holder or a waiter."""
        return len(self._turns)
