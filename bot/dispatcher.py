"""The dispatcher: claims due prompts, runs their turns, and hands the messages to a sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.coach import Coach
from flows import Message

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, user_id: int, messages: list[Message]) -> None:
        """Deliver messages to a user (Telegram, the terminal, or a recording fake)."""
        ...


class CollectingSender:
    """A sender that keeps what it was given: the terminal's outbox, and the tests' recording fake."""

    def __init__(self) -> None:
        self.sent: dict[int, list[Message]] = {}

    async def send(self, user_id: int, messages: list[Message]) -> None:
        self.sent.setdefault(user_id, []).extend(messages)


class Dispatcher:
    def __init__(self, coach: Coach, sender: Sender, batch: int = 200) -> None:
        self.coach = coach
        self.sender = sender
        self.batch = batch

    async def run_due(self, user_id: int | None = None) -> int:
        """Send every prompt due by the coach's clock (one user's only, if given); returns how many."""
        sent, tried = 0, set()
        while True:
            ids = await self.coach.storage.due_prompts(self.coach.clock(), self.batch, user_id)
            fresh = [i for i in ids if i not in tried]
            for prompt_id in fresh:
                tried.add(prompt_id)
                delivery = await self.coach.handle_prompt(prompt_id)
                if delivery is not None:
                    await self.sender.send(*delivery)
                    sent += 1
            # A prompt whose turn failed stays pending for the next round, not this one.
            if len(ids) < self.batch or not fresh:
                return sent

    async def run_forever(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Poll for due prompts until `stop` is set."""
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception as error:  # keep dispatching; the next round retries
                log.error("dispatch round failed error=%s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
