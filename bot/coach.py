"""The coach service: one event from one user through storage and the pure engine, to messages."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime

from bot.storage import Storage
from content.schema import Content
from flows import Event, Message, Outcome, State, render, render_all, step
from flows.values import Reply

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Coach:
    """Carries out the engine's decisions; makes none of its own."""

    def __init__(self, storage: Storage, content: Content, clock: Clock) -> None:
        self.storage = storage
        self.content = content
        self.clock = clock

    async def handle(self, user_id: int, event: Event, ref: str = "") -> list[Message]:
        """Run one turn; on any failure the user's stored state is untouched and they get an apology."""
        now = self.clock()

        def decide(state: State) -> Outcome:
            return step(state, event, now, self.content)

        try:
            outcome = await self.storage.transact(user_id, now, decide)
        except Exception as error:
            # The exception's message can quote SQL parameters (answers), so only its type and
            # where it happened are logged.
            where = "".join(traceback.format_tb(error.__traceback__))
            log.error("turn failed user=%s ref=%s error=%s\n%s", user_id, ref, type(error).__name__, where)
            return [render(Reply("error_sorry"), self.content)]
        log.info("turn user=%s ref=%s state=%s", user_id, ref, outcome.state.name)
        return render_all(outcome.replies, self.content)
