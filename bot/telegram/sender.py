"""Delivers rendered messages to a chat: retries rate limits and network errors, notes blocked users."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar

import httpx
from telegram import Bot, InlineKeyboardMarkup, InputFile
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBDeprecationWarning

from hipcoach.bot.delivery.chat_pauses import ChatPauses
from hipcoach.bot.delivery.rate_limit import SendLimiter
from hipcoach.bot.files.animation_store import FileIds
from hipcoach.bot.storage.outbox import Progress, Untracked
from hipcoach.bot.telegram.format import caption, keyboard, outgoing
from hipcoach.bot.telegram.live_keyboards import LiveKeyboards, MemoryLiveKeyboards
from hipcoach.flows import Message
from hipcoach.flows.values import File

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Deactivate = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying: waits for rate limits, and backoff for network errors."""

    rate_limit_waits: int = 5
    network_retries: int = 4
    first_backoff: float = 1.0
    max_backoff: float = 30.0

    def backoff(self, retry: int) -> float:
        """Seconds to wait before network retry number `retry` (1, 2, ...): doubling, capped."""
        return min(self.first_backoff * 2 ** (retry - 1), self.max_backoff)


@dataclass(frozen=True)
class Press:
    """A button press to settle once its turn is committed: the query to answer and the pressed message.

    `answered_html` is that message's text with the chosen answer under it (None when it cannot be
    shown there: too long, or not a text message); `has_keyboard` is whether Telegram showed buttons.
    """

    query_id: str
    chat_id: int
    message_id: int | None
    answered_html: str | None = None
    has_keyboard: bool = True


@dataclass(frozen=True)
class Part:
    """One Bot API request of a delivery, and what goes with it."""

    request: Callable[[], Awaitable[object]]
    keyboard: bool = False  # it shows buttons: the chat's earlier live keyboards are taken off first
    action: str | None = None  # a chat action shown right before it (upload_photo, ...)
    in_place: bool = False  # it edits the pressed message rather than sending a new one


class UnknownOutcome(Exception):
    """A request went out and no answer came: Telegram may or may not have acted on it."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# Failures that happen before any byte of the request reaches Telegram: a retry cannot double it.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def never_arrived(error: NetworkError) -> bool:
    """True when Telegram surely did not act on the request: it answered with an error, or was never reached.

    python-telegram-bot raises an error answer (5xx) without a cause, and a transport failure from the
    httpx exception behind it; a timeout with no cause came from a request layer that cannot say.
    """
    cause = error.__cause__
    if cause is None:
        return not isinstance(error, TimedOut)
    return isinstance(cause, NOT_SENT)


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, whether PTB gives it as seconds or as a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


class TelegramSender:
    """The one way the bot talks to Telegram; `sleep` is injected so tests never really wait."""

    def __init__(
        self,
        bot: Bot,
        deactivate: Deactivate,
        sleep: Sleep = asyncio.sleep,
        policy: RetryPolicy | None = None,
        limiter: SendLimiter | None = None,
        file_ids: FileIds | None = None,
        keyboards: LiveKeyboards | None = None,
    ) -> None:
        self.bot = bot
        self.file_ids = file_ids  # animations already uploaded: sent again by Telegram's file id
        self.keyboards = keyboards or MemoryLiveKeyboards()  # messages whose buttons can still be pressed
        self.deactivate = deactivate
        self.sleep = sleep
        self.policy = policy or RetryPolicy()
        self.limiter = limiter  # Telegram's send rate, shared with the other replicas
        self.pauses = ChatPauses(sleep)  # chats Telegram asked to wait (429): their sends alone wait

    async def send(
        self,
        user_id: int,
        messages: Sequence[Message],
        progress: Progress | None = None,
        press: Press | None = None,
    ) -> None:
        """Deliver to a user's private chat; if they blocked the bot, mark them inactive and send no more."""
        try:
            await self.send_to_chat(user_id, messages, progress, press)
        except Forbidden:
            log.info("user blocked the bot user=%s", user_id)
            await self.deactivate(user_id)

    def answering(self, press: Press | None) -> PressDelivery:
        """A sender for the replies to `press` (settled first), or to any other update when None."""
        return PressDelivery(self, press)

    async def send_to_chat(
        self,
        chat_id: int,
        messages: Sequence[Message],
        progress: Progress | None = None,
        press: Press | None = None,
    ) -> None:
        """Settle the press answered, if any, then send every part not yet settled, in order; Forbidden
        and lasting failures go to the caller.

        A part whose answer never came is reported unconfirmed and not sent again (see bot/storage/outbox.py).
        The first part with buttons takes the keyboards of the chat's earlier messages off.
        """
        progress = progress or Untracked()
        keyboards = DeliveryKeyboards(self, chat_id, progress)
        if press is not None or any(message.buttons for message in messages):
            await keyboards.load()  # a delivery without buttons leaves the live ones as they are
        in_place = press is not None and press.message_id in keyboards.live and progress.first == 0
        parts = self._parts(chat_id, messages, press if in_place else None)
        if press is not None:
            await self._settle(press, keyboards, replaced=any(part.in_place for part in parts))
        try:
            for index in range(progress.first, len(parts)):
                await self._send_part(chat_id, index, parts[index], progress, keyboards, press)
        finally:
            await keyboards.note()  # once a delivery: a failure only leaves a keyboard live a while longer

    async def _send_part(
        self,
        chat_id: int,
        index: int,
        part: Part,
        progress: Progress,
        keyboards: DeliveryKeyboards,
        press: Press | None,
    ) -> None:
        if part.keyboard:
            await keyboards.retire(keep=press.message_id if part.in_place and press else None)
        if part.action is not None:
            await self.best_effort("chat action", partial(self.bot.send_chat_action, chat_id, part.action))
        try:
            sending = partial(progress.sending, index)
            sent = await self.call(part.request, limited=True, before=sending, chat_id=chat_id)
        except UnknownOutcome as error:
            log.warning("send unconfirmed chat=%s part=%s error=%s", chat_id, index, error.kind)
            await progress.unconfirmed(index)
            return
        if part.keyboard:
            keyboards.shown(getattr(sent, "message_id", None))

    async def _settle(self, press: Press, keyboards: DeliveryKeyboards, replaced: bool) -> None:
        """Answer the query, and show the chosen answer on the pressed message in place of its buttons.

        Only the live keyboard gets the answer written under it: a press on an older message (pressed
        twice, or a keyboard from before) only loses its buttons. Every failure is logged and passed over.
        """
        await self.best_effort("press answer", lambda: self.bot.answer_callback_query(press.query_id))
        if replaced or press.message_id is None or not press.has_keyboard:
            return  # the pressed message is edited by its part, or has nothing to take off
        chat, message_id = press.chat_id, press.message_id
        if message_id in keyboards.live and press.answered_html is not None:
            text = press.answered_html
            done = await self.best_effort(
                "press shown",
                lambda: self.bot.edit_message_text(text, chat, message_id, parse_mode=ParseMode.HTML),
            )
        else:
            done = await self.remove_keyboard(chat, message_id)
        if done:
            keyboards.settled(message_id)

    async def remove_keyboard(self, chat_id: int, message_id: int) -> bool:
        """Take a message's buttons off; True if Telegram did."""
        remove = partial(self.bot.edit_message_reply_markup, chat_id, message_id, reply_markup=None)
        return await self.best_effort("keyboard removal", remove)

    async def best_effort(self, what: str, request: Callable[[], Awaitable[object]]) -> bool:
        """One try of a request the delivery does without if it fails (400, 403, 429, 5xx, timeouts):
        the failure's kind is logged and False returned."""
        try:
            await request()
        except Exception as error:
            log.info("%s skipped error=%s", what, type(error).__name__)
            return False
        return True

    def _parts(self, chat_id: int, messages: Sequence[Message], press: Press | None = None) -> list[Part]:
        """One Bot API request per part: each message's text, split to fit and escaped, then its files.

        A photo whose message text fits a caption goes as one captioned photo. With `press`, the first
        message that replaces the pressed one is edited into it (its text and buttons) instead of sent.
        """
        parts: list[Part] = []
        for message in messages:
            pieces = outgoing(message)
            if press is not None and message.replaces_pressed and not message.files and len(pieces) == 1:
                (text, markup), pressed, press = pieces[0], press, None
                edit = partial(self._replace_pressed, pressed, chat_id, text, markup)
                parts.append(Part(edit, keyboard=markup is not None, in_place=True))
                continue
            captioned = caption(message)
            if captioned is not None:
                markup = keyboard(message.buttons)
                photo = partial(self._send_photo, chat_id, message.files[0], captioned, markup)
                parts.append(Part(photo, keyboard=markup is not None, action=ChatAction.UPLOAD_PHOTO))
                continue
            for text, markup in pieces:
                send = partial(
                    self.bot.send_message, chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
                )
                parts.append(Part(send, keyboard=markup is not None))
            parts += [
                Part(partial(self._send_file, chat_id, file), action=UPLOAD_ACTIONS.get(file.kind))
                for file in message.files
            ]
        return parts

    async def _replace_pressed(
        self, press: Press, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> object:
        """The pressed message shows this text and these buttons now; sent as a new message if it cannot."""
        assert press.message_id is not None
        try:
            return await self.bot.edit_message_text(
                text, press.chat_id, press.message_id, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except BadRequest as error:  # too old to edit, or gone: nothing was changed
            log.info("pressed message not replaced error=%s", type(error).__name__)
        await self.remove_keyboard(press.chat_id, press.message_id)
        return await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)

    async def _send_photo(
        self, chat_id: int, file: File, caption: str, markup: InlineKeyboardMarkup | None
    ) -> object:
        upload = InputFile(file.data, filename=file.name)
        return await self.bot.send_photo(
            chat_id, photo=upload, caption=caption or None, parse_mode=ParseMode.HTML, reply_markup=markup
        )

    async def _send_file(self, chat_id: int, file: File) -> object:
        upload = InputFile(file.data, filename=file.name)
        if file.kind == "photo":
            return await self.bot.send_photo(chat_id, photo=upload)
        if file.kind == "animation":
            return await self._send_animation(chat_id, file)
        return await self.bot.send_document(chat_id, document=upload)

    async def _send_animation(self, chat_id: int, file: File) -> object:
        """By the file id Telegram gave the first upload of this file, else uploaded and its id kept.

        A refused file id (BadRequest: nothing was sent) falls back to an upload in the same part.
        """
        known = await self.file_ids.get(file.name) if self.file_ids else None
        if known is not None:
            try:
                return await self.bot.send_animation(chat_id, animation=known)
            except BadRequest as error:
                log.warning("animation file id refused name=%s error=%s", file.name, error.message)
        sent = await self.bot.send_animation(chat_id, animation=InputFile(file.data, filename=file.name))
        media = sent.animation or sent.document or sent.video
        if self.file_ids is not None and media is not None:
            try:
                await self.file_ids.put(file.name, media.file_id)
            except Exception as error:  # the animation was sent: a lost id only costs a later upload
                log.warning("animation file id not kept name=%s error=%s", file.name, type(error).__name__)
        return sent

    async def call(
        self,
        request: Callable[[], Awaitable[T]],
        limited: bool = False,
        before: Callable[[], Awaitable[None]] | None = None,
        chat_id: int | None = None,
    ) -> T:
        """Run one Bot API request: wait out rate limits, retry network errors with backoff, both bounded.

        A `limited` request (a message sent) first waits for a slot of the shared send rate, each try,
        and is never repeated once its outcome is unknown: that raises UnknownOutcome. `before` runs
        right before each try. A request to `chat_id` waits while that chat is paused by a 429, and
        its own 429 pauses that chat alone (bot/delivery/chat_pauses.py).
        """
        waits = retries = 0
        while True:
            try:
                if chat_id is not None:
                    await self.pauses.wait(chat_id)
                if limited and self.limiter is not None:
                    return await self.limiter.send(request, before)
                if before is not None:
                    await before()
                return await request()
            except RetryAfter as error:
                waits += 1
                if waits > self.policy.rate_limit_waits:
                    raise
                seconds = retry_after_seconds(error)
                log.warning("rate limited: waiting %.1f s (wait %d) chat=%s", seconds, waits, chat_id)
                await (self.sleep(seconds) if chat_id is None else self.pauses.hold(chat_id, seconds))
            except BadRequest:
                raise  # a NetworkError subclass, but retrying the same request cannot help
            except NetworkError as error:
                if limited and not never_arrived(error):
                    raise UnknownOutcome(type(error.__cause__ or error).__name__) from error
                retries += 1
                if retries > self.policy.network_retries:
                    raise
                seconds = self.policy.backoff(retries)
                log.warning("%s: retry %d in %.1f s", type(error).__name__, retries, seconds)
                await self.sleep(seconds)


UPLOAD_ACTIONS = {"photo": ChatAction.UPLOAD_PHOTO, "document": ChatAction.UPLOAD_DOCUMENT}


class PressDelivery:
    """The sender as the coach's delivery sees it, with the press its replies answer."""

    def __init__(self, sender: TelegramSender, press: Press | None) -> None:
        self.sender = sender
        self.press = press

    async def send(self, user_id: int, messages: Sequence[Message], progress: Progress | None = None) -> None:
        await self.sender.send(user_id, messages, progress, self.press)


class DeliveryKeyboards:
    """One delivery's view of the chat's live keyboards: the first keyboard it shows retires the others.

    Reading or noting them never stops a delivery: a failure only leaves a keyboard live a while longer.
    """

    def __init__(self, sender: TelegramSender, chat_id: int, progress: Progress) -> None:
        self.sender = sender
        self.chat_id = chat_id
        self.progress = progress  # a row's delivery: its claim read them, its settling mark notes them
        self.live: list[int] = []  # as noted before this delivery
        self.showing: list[int] | None = None  # this delivery's keyboards, once it shows one
        self.changed: list[int] | None = None  # what to note at the end of the delivery

    async def load(self) -> None:
        if self.progress.live_keyboards is not None:
            self.live = list(self.progress.live_keyboards)
            return
        try:
            self.live = await self.sender.keyboards.get(self.chat_id)
        except Exception as error:
            log.warning("live keyboards not read chat=%s error=%s", self.chat_id, type(error).__name__)

    def settled(self, message_id: int) -> None:
        """The pressed message has no buttons any more."""
        self.live = [live for live in self.live if live != message_id]
        self.changed = self.live

    async def retire(self, keep: int | None = None) -> None:
        """Before this delivery's first keyboard: take the earlier ones off (all but `keep`)."""
        if self.showing is not None:
            return
        self.showing = []
        for message_id in self.live:
            if message_id != keep:
                await self.sender.remove_keyboard(self.chat_id, message_id)
        self.live = []
        self.changed = self.showing

    def shown(self, message_id: int | None) -> None:
        if message_id is None or self.showing is None:
            return
        self.showing.append(message_id)
        self.changed = self.showing

    async def note(self) -> None:
        """Write what changed, once at the end of the delivery (a row's: with its settling mark)."""
        if self.changed is None or self.progress.keep_keyboards(self.changed):
            return
        try:
            await self.sender.keyboards.put(self.chat_id, self.changed)
        except Exception as error:
            log.warning("live keyboards not noted chat=%s error=%s", self.chat_id, type(error).__name__)
        self.changed = None


class TelegramNotifier:
    """Notes for the human coach, sent to their Telegram chat."""

    def __init__(self, sender: TelegramSender, chat_id: int) -> None:
        self.sender = sender
        self.chat_id = chat_id

    async def notify(self, text: str) -> None:
        await self.sender.send_to_chat(self.chat_id, [Message(text)])
