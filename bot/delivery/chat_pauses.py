"""Per-chat backoff: Telegram's 429 for one chat pauses that chat's sends, and no one else's.

Telegram limits each chat on its own (a group takes 20 messages a minute) besides the bot's overall
rate, and its 429 names the chat's wait (retry_after). The request refused waits it out; any other
send to the same chat that comes meanwhile waits with it rather than being refused in turn, while
sends to other chats go on (the overall rate is the send limiter's, bot/delivery/rate_limit.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Pause:
    over: asyncio.Event = field(default_factory=asyncio.Event)
    holders: int = 0  # refused requests still waiting out their retry_after


class ChatPauses:
    """The chats Telegram asked to wait, each until its refused requests have waited out retry_after."""

    def __init__(self, sleep: Sleep) -> None:
        self.sleep = sleep  # injected: tests never really wait
        self._paused: dict[int, _Pause] = {}

    def paused(self, chat_id: int) -> bool:
        return chat_id in self._paused

    async def wait(self, chat_id: int) -> None:
        """Return once the chat is not paused (at once, if it is not)."""
        while (pause := self._paused.get(chat_id)) is not None:
            await pause.over.wait()

    async def hold(self, chat_id: int, seconds: float) -> None:
        """Pause the chat while this refused request waits `seconds`."""
        pause = self._paused.setdefault(chat_id, _Pause())
        pause.holders += 1
        try:
            await self.sleep(seconds)
        finally:
            pause.holders -= 1
            if not pause.holders:
                del self._paused[chat_id]
                pause.over.set()
