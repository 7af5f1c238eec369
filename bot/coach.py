"""The coach service: one event from one user through storage and the pure engine, to messages."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hipcoach.bot.files import attachments
from hipcoach.bot.files.animation_files import AnimationCache
from hipcoach.bot.storage.outbox import Progress, RowProgress
from hipcoach.bot.storage.sql import Decide, Storage
from hipcoach.content.schema import Content
from hipcoach.flows import Due, Event, Message, Outcome, State, render, render_all, step
from hipcoach.flows.values import Context, ForgetUser, NotifyCoach, Reply

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
GIVE_UP_AFTER = 5  # tries of an outbox row that keeps failing for sure, before it is marked failed


class Notifier(Protocol):
    async def notify(self, text: str) -> None:
        """Deliver a note to the human coach's chat."""
        ...


@dataclass(frozen=True)
class Staff:
    """Who besides the user is involved: a human coach to notify, admins who may see /stats."""

    notifier: Notifier | None = None
    admin_ids: frozenset[int] = frozenset()


class Observer(Protocol):
    """What the shell's metrics hear about: outcomes and durations, never what anyone said."""

    def turn(self, ok: bool, seconds: float) -> None: ...
    def prompt_due(self) -> None: ...
    def delivered(self, ok: bool) -> None: ...
    def unconfirmed(self) -> None: ...


class Sender(Protocol):
    async def send(self, user_id: int, messages: list[Message], progress: Progress | None = None) -> None:
        """Deliver the parts after `progress.first`, reporting each (Telegram, the terminal, a fake)."""
        ...


class UserFiles(Protocol):
    """Files a shell keeps about a user outside the database (the terminal's saved exports)."""

    def forget(self, user_id: int) -> None: ...


class NoUserFiles:
    """The default: the shell keeps no file about anyone (Telegram sends them and keeps none)."""

    def forget(self, user_id: int) -> None:
        pass


class Unobserved:
    """The default observer: notes nothing."""

    def turn(self, ok: bool, seconds: float) -> None:
        pass

    def prompt_due(self) -> None:
        pass

    def delivered(self, ok: bool) -> None:
        pass

    def unconfirmed(self) -> None:
        pass


@dataclass(frozen=True)
class Answer:
    """What to send for an update, and the outbox row that holds it until it is sent."""

    messages: list[Message]
    outbox_id: int | None
    committed: bool = True  # False: the turn failed and nothing was kept; the messages apologise


class Coach:
    """Carries out the engine's decisions; makes none of its own."""

    def __init__(self, storage: Storage, content: Content, clock: Clock, staff: Staff | None = None) -> None:
        self.storage = storage
        self.content = content
        self.clock = clock
        self.staff = staff or Staff()
        self.observer: Observer = Unobserved()
        self.user_files: UserFiles = NoUserFiles()  # the terminal gives its saved files
        self.animations = AnimationCache()  # bootstrap gives it a directory to keep the files in
        self.animation_kind = "gif"  # the Telegram shell sends MP4

    def context_for(self, user_id: int, handle: str | None) -> Context:
        return Context(
            coach_available=self.staff.notifier is not None,
            is_admin=user_id in self.staff.admin_ids,
            handle=f"@{handle}" if handle else None,
        )

    async def handle(
        self, user_id: int, event: Event, ref: str = "", handle: str | None = None
    ) -> list[Message]:
        """Run one turn; on any failure the user's stored state is untouched and they get an apology."""
        now = self.clock()
        try:
            outcome = await self.storage.transact(user_id, now, self._decider(user_id, event, now, handle))
        except Exception as error:
            return self._failed(error, user_id, ref)
        return await self._carry_out(outcome, user_id, ref)

    async def handle_update(
        self, user_id: int, event: Event, update_id: int, handle: str | None = None
    ) -> Answer | None:
        """A Telegram update's turn, once only: None for a redelivered update, which changes nothing.

        The replies are committed with the turn (an outbox row claimed for the caller, who sends them
        and then calls `delivered`); if the caller dies before that, the dispatcher sends them later.
        """
        now = self.clock()

        def render_payload(outcome: Outcome) -> list[dict[str, Any]]:
            return [message.to_json() for message in render_all(outcome.replies, self.content)]

        ref = f"update:{update_id}"
        decide = self._decider(user_id, event, now, handle)
        started = time.perf_counter()
        try:
            handled = await self.storage.transact_update(user_id, update_id, now, decide, render_payload)
        except Exception as error:
            self.observer.turn(False, time.perf_counter() - started)
            return Answer(self._failed(error, user_id, ref), None, committed=False)
        self.observer.turn(True, time.perf_counter() - started)
        if handled is None:
            log.info("redelivered update ignored user=%s ref=%s", user_id, ref)
            return None
        return Answer(await self._carry_out(handled.outcome, user_id, ref), handled.outbox_id)

    def _decider(self, user_id: int, event: Event, now: datetime, handle: str | None) -> Decide:
        """The pure decision for this turn, waiting for the state storage loads under its lock."""
        context = self.context_for(user_id, handle)
        return lambda state: step(state, event, now, self.content, context)

    def _failed(self, error: Exception, user_id: int, ref: str) -> list[Message]:
        """Log a failed turn and apologise; nothing of the turn was stored."""
        # The exception's message can quote SQL parameters (answers): only its type and place are logged.
        where = "".join(traceback.format_tb(error.__traceback__))
        log.error("turn failed user=%s ref=%s error=%s\n%s", user_id, ref, type(error).__name__, where)
        return [render(Reply("error_sorry"), self.content)]

    async def _carry_out(self, outcome: Outcome, user_id: int, ref: str) -> list[Message]:
        """After the commit: notify the coach if agreed, forget files if the user was forgotten, render
        the replies, make attached files."""
        log.info("turn user=%s ref=%s state=%s", user_id, ref, outcome.state.name)
        await self._notify_coach(outcome)
        if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
            self.user_files.forget(user_id)  # the turn's commit forgot what the database held
        messages = render_all(outcome.replies, self.content)
        if any(m.attachment for m in messages):
            messages = await attachments.fill(messages, user_id, self)
        return messages

    async def deliver(
        self,
        user_id: int,
        messages: list[Message],
        outbox_id: int | None,
        sender: Sender,
        first_part: int = 0,
    ) -> bool:
        """Send an outbox row's messages from `first_part` on, then mark it sent or give it back to retry.

        Without a row (the user was just forgotten) the messages are sent once, with nothing to mark.
        """
        progress = None if outbox_id is None else RowProgress(self.storage.outbox, outbox_id, first_part)
        try:
            await sender.send(user_id, messages, progress)
        except Exception as error:
            log.warning(
                "delivery failed user=%s outbox=%s error=%s", user_id, outbox_id, type(error).__name__
            )
            ok = False
        else:
            ok = True
        if progress is not None:
            for _ in range(progress.unconfirmed_parts):
                self.observer.unconfirmed()
            await self.storage.outbox.done(progress.outbox_id, self.clock(), ok, GIVE_UP_AFTER)
        return ok

    async def _notify_coach(self, outcome: Outcome) -> None:
        notes = [effect.text for effect in outcome.effects if isinstance(effect, NotifyCoach)]
        if notes and self.staff.notifier is not None:
            for note in notes:
                await self.staff.notifier.notify(note)

    async def handle_prompt(self, prompt_id: int) -> bool:
        """Claim a due prompt and run its turn; its messages are queued in the outbox. True if queued."""
        now = self.clock()

        def decide_for(kind: str, due_at: datetime) -> Callable[[State], Outcome]:
            event = Due(kind, prompt_id, due_at)
            return lambda state: step(state, event, now, self.content)

        def render_payload(outcome: Outcome) -> list[dict[str, Any]]:
            return [message.to_json() for message in render_all(outcome.replies, self.content)]

        try:
            delivery = await self.storage.transact_prompt(prompt_id, now, decide_for, render_payload)
        except Exception as error:
            where = "".join(traceback.format_tb(error.__traceback__))
            log.error("prompt failed prompt=%s error=%s\n%s", prompt_id, type(error).__name__, where)
            return False
        queued = delivery is not None and bool(delivery.outcome.replies)
        log.info("prompt handled prompt=%s queued=%s", prompt_id, queued)
        return queued
