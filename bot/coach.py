"""The coach service: one turn (load under the user's lock, decide, render, commit), then its delivery."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hipcoach.bot.files import attachments
from hipcoach.bot.files.animation_files import AnimationCache
from hipcoach.bot.storage.outbox import Progress, RowProgress
from hipcoach.bot.storage.port import (
    ClaimedPrompt,
    ClaimedReply,
    Opened,
    Queued,
    Reports,
    Storage,
    UnitOfWork,
)
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
class Kept:
    """What a turn left in the outbox: whether it queued replies, and their row if claimed for the caller."""

    queued: bool
    row: ClaimedReply | None = None


@dataclass(frozen=True)
class PromptsHandled:
    """A batch of prompts: those tried (claimed, or lost with a failed commit) and how many queued replies."""

    tried: frozenset[int]  # not left pending for a later claim this round
    queued: int


@dataclass(frozen=True)
class Answer:
    """What to send for an update, and the outbox row that holds it until it is sent."""

    messages: list[Message]
    row: ClaimedReply | None
    committed: bool = True  # False: the turn failed and nothing was kept; the messages apologise
    # True: committed, but its files could not be made; the row was given back for the dispatcher.
    waiting: bool = False

    @property
    def outbox_id(self) -> int | None:
        return None if self.row is None else self.row.id


class Coach:
    """Carries out the engine's decisions; makes none of its own. Every collaborator comes in here."""

    def __init__(
        self,
        storage: Storage,
        reports: Reports,
        content: Content,
        clock: Clock,
        *,
        staff: Staff | None = None,
        observer: Observer | None = None,
        user_files: UserFiles | None = None,
        animations: AnimationCache | None = None,
        animation_kind: str = "gif",  # the Telegram shell sends MP4
    ) -> None:
        self.storage = storage
        self.reports = reports
        self.content = content
        self.clock = clock
        self.staff = staff or Staff()
        self.observer = observer or Unobserved()
        self.user_files = user_files or NoUserFiles()  # the terminal's saved files
        self.animations = animations or AnimationCache()
        self.animation_kind = animation_kind

    def context_for(self, user_id: int, handle: str | None) -> Context:
        return Context(
            coach_available=self.staff.notifier is not None,
            is_admin=user_id in self.staff.admin_ids,
            handle=f"@{handle}" if handle else None,
        )

    async def turn(
        self, user_id: int, event: Event, update_id: int | None = None, handle: str | None = None
    ) -> Answer | None:
        """Take one turn and commit it with its replies, queued in the outbox and claimed for the caller.

        The caller sends them (`deliver`); if it dies first, the dispatcher sends them later. A Telegram
        update's turn is taken once only: None for a redelivered update, which changes nothing, and for
        an update of a user deleted meanwhile (it came before the deletion, or waited for it to end),
        which says nothing either. On any failure nothing of the turn is kept and the answer apologises.
        """
        now = self.clock()
        ref = "terminal" if update_id is None else f"update:{update_id}"
        started = time.perf_counter()
        try:
            async with self.storage.unit_of_work(now) as work:
                opened = await work.open_user(user_id, update_id)
                if opened.deleted or (update_id is not None and await work.seen_update(update_id)):
                    taken = None  # left without a commit: nothing changes
                else:
                    outcome = step(opened.state, event, now, self.content, self.context_for(user_id, handle))
                    messages = render_all(outcome.replies, self.content)
                    row = (await self._keep(work, opened, outcome, messages, update_id)).row
                    await work.commit()
                    taken = outcome, messages, row
        except Exception as error:
            self.observer.turn(False, time.perf_counter() - started)
            return Answer(self._failed(error, user_id, ref), None, committed=False)
        self.observer.turn(True, time.perf_counter() - started)
        if taken is None:
            log.info("redelivered or deleted user's update ignored user=%s ref=%s", user_id, ref)
            return None
        outcome, messages, row = taken
        log.info("turn user=%s ref=%s state=%s", user_id, ref, outcome.state.name)
        await self._notify_coach(outcome)
        if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
            self.user_files.forget(user_id)  # the turn's commit forgot what the database held
        try:
            return Answer(await self._attach(messages, user_id), row)
        except Exception as error:  # the files read the database, which may have gone since the commit
            log.warning("files not made user=%s ref=%s error=%s", user_id, ref, type(error).__name__)
            if row is not None:
                await self._settle(user_id, row.id, ok=False)  # the dispatcher sends it later
            return Answer(messages, row, waiting=True)

    async def handle_prompt(self, prompt_id: int) -> bool:
        """Claim one due prompt and take its turn (`handle_prompts`); True if replies were queued."""
        return (await self.handle_prompts([prompt_id])).queued > 0

    async def handle_prompts(self, prompt_ids: Sequence[int]) -> PromptsHandled:
        """Claim due prompts in one statement and take their turns in one transaction; their replies wait
        in the outbox.

        A prompt whose turn fails is given back for the next round; the others are kept. A prompt not
        claimed (its user busy in a turn, or a user's later prompt) stays pending. If the commit fails,
        nothing is kept and every prompt stays pending.
        """
        now = self.clock()
        queued = 0
        try:
            async with self.storage.unit_of_work(now) as work:
                claimed = await work.claim_prompts(prompt_ids)
                for prompt in claimed.turns:
                    queued += await self._prompt_turn(work, prompt, now)
                await work.commit()  # an unreachable user's prompt is kept skipped
        except Exception as error:
            where = "".join(traceback.format_tb(error.__traceback__))
            log.error("prompts failed count=%s error=%s\n%s", len(prompt_ids), type(error).__name__, where)
            return PromptsHandled(frozenset(prompt_ids), 0)
        tried = frozenset(prompt_ids) - claimed.waiting
        log.info("prompts handled tried=%s queued=%s", len(tried), queued)
        return PromptsHandled(tried, queued)

    async def _prompt_turn(self, work: UnitOfWork, claimed: ClaimedPrompt, now: datetime) -> bool:
        """One claimed prompt's turn, kept in the unit of work; True if it queued replies."""
        try:
            event = Due(claimed.kind, claimed.prompt_id, claimed.due_at)
            outcome = step(claimed.opened.state, event, now, self.content)
            messages = render_all(outcome.replies, self.content)
        except Exception as error:
            where = "".join(traceback.format_tb(error.__traceback__))
            log.error("prompt failed prompt=%s error=%s\n%s", claimed.prompt_id, type(error).__name__, where)
            await work.release_prompt(claimed.prompt_id)
            return False
        kept = await self._keep(work, claimed.opened, outcome, messages, claimed=False)
        if outcome.replies:
            await work.prompt_sent(claimed.prompt_id)
        return kept.queued

    async def _keep(
        self,
        work: UnitOfWork,
        opened: Opened,
        outcome: Outcome,
        messages: list[Message],
        update_id: int | None = None,
        claimed: bool = True,
    ) -> Kept:
        """Hand the outcome to storage; whether replies were queued, and their row if it is the caller's.

        Someone we never knew who leaves nothing to keep, or a user who asked to be forgotten, leaves no
        trace (their replies are sent once, without a row).
        """
        user_id = opened.user_id
        nothing_to_keep = not opened.known and outcome.state == State() and not outcome.effects
        if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
            await work.forget(user_id, update_id)  # a tombstone recognises this update if it comes again
            return Kept(queued=False)
        if nothing_to_keep:
            await work.forget(user_id)
            return Kept(queued=False)
        await work.apply(user_id, outcome.effects)
        await work.save(user_id, outcome.state)
        if update_id is not None:
            await work.record_update(user_id, update_id)
        if not messages:
            return Kept(queued=False)
        return Kept(True, await work.queue(user_id, [message.to_json() for message in messages], claimed))

    def _failed(self, error: Exception, user_id: int, ref: str) -> list[Message]:
        """Log a failed turn and apologise; nothing of the turn was stored."""
        # The exception's message can quote SQL parameters (answers): only its type and place are logged.
        where = "".join(traceback.format_tb(error.__traceback__))
        log.error("turn failed user=%s ref=%s error=%s\n%s", user_id, ref, type(error).__name__, where)
        return [render(Reply("error_sorry"), self.content)]

    async def _attach(self, messages: list[Message], user_id: int) -> list[Message]:
        """Make the files the replies name (exports, charts, animations) from what is committed."""
        if any(m.attachment for m in messages):
            return await attachments.fill(messages, user_id, self)
        return messages

    async def _notify_coach(self, outcome: Outcome) -> None:
        notes = [effect.text for effect in outcome.effects if isinstance(effect, NotifyCoach)]
        if notes and self.staff.notifier is not None:
            for note in notes:
                await self.staff.notifier.notify(note)

    async def deliver(
        self,
        user_id: int,
        messages: list[Message],
        outbox_id: int | None,
        sender: Sender,
        first_part: int = 0,
        in_order: bool = False,
        live_keyboards: tuple[int, ...] | None = None,
    ) -> bool:
        """Send an outbox row's messages from `first_part` on, then mark it sent or give it back to retry.

        Without a row (the user was just forgotten) the messages are sent once, with nothing to mark.
        The row is in this process's heartbeat meanwhile. A turn's row first waits while an earlier row
        of the user's is still being sent, here or elsewhere, and is left to the dispatcher if that takes
        a lease; `in_order`: a claim that found no such row (the dispatcher's, or a turn's with nothing
        ahead), which read the chat's `live_keyboards` too.
        """
        if outbox_id is None:
            return await self._send(user_id, messages, None, sender)
        outbox = self.storage.outbox
        outbox.hold(outbox_id, self.clock)
        try:
            if not in_order and not await outbox.in_turn(outbox_id, user_id):
                return False
            progress = RowProgress(outbox, outbox_id, first_part, live_keyboards if in_order else None)
            ok = await self._send(user_id, messages, progress, sender)
            for _ in range(progress.unconfirmed_parts):
                self.observer.unconfirmed()
            await self._settle(user_id, outbox_id, ok, progress.keyboards)
            return ok
        finally:
            outbox.let_go(outbox_id)  # settled by now, unless cancelled: then its claim lapses

    async def _send(
        self, user_id: int, messages: list[Message], progress: RowProgress | None, sender: Sender
    ) -> bool:
        try:
            await sender.send(user_id, messages, progress)
        except Exception as error:
            outbox_id = None if progress is None else progress.outbox_id
            log.warning(
                "delivery failed user=%s outbox=%s error=%s", user_id, outbox_id, type(error).__name__
            )
            return False
        return True

    async def _settle(
        self, user_id: int, outbox_id: int, ok: bool, keyboards: tuple[int, ...] | None = None
    ) -> None:
        """Mark the row sent or give it back (noting the chat's live `keyboards` with it, if they changed);
        if even the retried mark fails, its claim lapses (lease)."""
        try:
            await self.storage.outbox.done(outbox_id, self.clock(), ok, GIVE_UP_AFTER, keyboards)
        except Exception as error:
            log.error(
                "outbox row not settled user=%s outbox=%s error=%s", user_id, outbox_id, type(error).__name__
            )

    async def deliver_queued(self, item: Queued, sender: Sender) -> bool:
        """Send a claimed outbox row (a prompt's, or one whose sender died) from its first unsettled part.

        Its files are made from the database first: if that fails, the row is given back to try again.
        """
        try:
            messages = await self._attach([Message.from_json(m) for m in item.payload], item.user_id)
        except Exception as error:
            log.warning(
                "delivery failed user=%s outbox=%s error=%s", item.user_id, item.id, type(error).__name__
            )
            await self._settle(item.user_id, item.id, ok=False)
            return False
        return await self.deliver(
            item.user_id, messages, item.id, sender, item.first_part, True, item.live_keyboards
        )

    async def deliver_answer(self, user_id: int, answer: Answer, sender: Sender) -> bool:
        """Send a turn's answer: its row, in turn behind any earlier one of the user's still to be sent."""
        row = answer.row
        if row is None:
            return await self.deliver(user_id, answer.messages, None, sender)
        self.storage.outbox.hold(row.id, self.clock, row.claimed_at)
        return await self.deliver(
            user_id, answer.messages, row.id, sender, 0, not row.ahead, row.live_keyboards
        )
