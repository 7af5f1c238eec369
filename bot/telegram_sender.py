"""Delivers rendered messages to a chat: retries rate limits and network errors, notes blocked users."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import httpx
from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBDeprecationWarning

from bot.animation_store import FileIds
from bot.outbox import Progress, Untracked
from bot.rate_limit import SendLimiter
from bot.telegram_format import outgoing
from flows import Message
from flows.values import File

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
    ) -> None:
        self.bot = bot
        self.file_ids = file_ids  # animations already uploaded: sent again by Telegram's file id
        self.deactivate = deactivate
        self.sleep = sleep
        self.policy = policy or RetryPolicy()
        self.limiter = limiter  # Telegram's send rate, shared with the other replicas

    async def send(self, user_id: int, messages: Sequence[Message], progress: Progress | None = None) -> None:
        """Deliver to a user's private chat; if they blocked the bot, mark them inactive and send no more."""
        try:
            await self.send_to_chat(user_id, messages, progress)
        except Forbidden:
            log.info("user blocked the bot user=%s", user_id)
            await self.deactivate(user_id)

    async def send_to_chat(
        self, chat_id: int, messages: Sequence[Message], progress: Progress | None = None
    ) -> None:
        """Send every part not yet settled, in order; Forbidden and lasting failures go to the caller.

        A part whose answer never came is reported unconfirmed and not sent again (see bot/outbox.py).
        """
        progress = progress or Untracked()
        parts = self._parts(chat_id, messages)
        for part in range(progress.first, len(parts)):
            try:
                await self.call(parts[part], limited=True, before=lambda part=part: progress.sending(part))
            except UnknownOutcome as error:
                log.warning("send unconfirmed chat=%s part=%s error=%s", chat_id, part, error.kind)
                await progress.unconfirmed(part)

    def _parts(self, chat_id: int, messages: Sequence[Message]) -> list[Callable[[], Awaitable[object]]]:
        """One Bot API request per part: each message's text, split to fit and escaped, then its files."""
        parts: list[Callable[[], Awaitable[object]]] = []
        for message in messages:
            for text, markup in outgoing(message):
                parts.append(
                    lambda text=text, markup=markup: self.bot.send_message(
                        chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
                    )
                )
            parts += [lambda file=file: self._send_file(chat_id, file) for file in message.files]
        return parts

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
    ) -> T:
        """Run one Bot API request: wait out rate limits, retry network errors with backoff, both bounded.

        A `limited` request (a message sent) first waits for a slot of the shared send rate, each try,
        and is never repeated once its outcome is unknown: that raises UnknownOutcome. `before` runs
        right before each try.
        """
        waits = retries = 0
        while True:
            try:
                if limited and self.limiter is not None:
                    await self.limiter.acquire()
                if before is not None:
                    await before()
                return await request()
            except RetryAfter as error:
                waits += 1
                if waits > self.policy.rate_limit_waits:
                    raise
                seconds = retry_after_seconds(error)
                log.warning("rate limited: waiting %.1f s (wait %d)", seconds, waits)
                await self.sleep(seconds)
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


class TelegramNotifier:
    """Notes for the human coach, sent to their Telegram chat."""

    def __init__(self, sender: TelegramSender, chat_id: int) -> None:
        self.sender = sender
        self.chat_id = chat_id

    async def notify(self, text: str) -> None:
        await self.sender.send_to_chat(self.chat_id, [Message(text)])
