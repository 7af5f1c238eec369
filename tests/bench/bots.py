"""The bots a benchmark drives, all on the tests' offline Bot API (FakeBotApi + OfflineRequest).

- `real_bot`: the coach as it serves Telegram: `build_application` (adapter, sender, rate limiters),
  Coach, SqlStorage. Only Telegram is fake. Unless `limited`, the rate limits are lifted so that
  back-to-back turns measure our code and not the 30 messages/s budget: AIORateLimiter is built
  with no limits (0) and the sender's own send-slot limiter is taken out.
- `echo_bot`: a bare python-telegram-bot application whose one handler echoes the text.
- `pickle_bot`: what a developer would reach for first: a ConversationHandler asking the same first
  onboarding question, with PicklePersistence.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import random
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

from hipcoach.bot.bootstrap import (
    Database,
    Settings,
    TelegramBot,
    build_coach,
    build_telegram,
    load_content,
    open_database,
)
from hipcoach.bot.coach import Coach
from hipcoach.bot.telegram import app as telegram_app
from hipcoach.flows import Choice, State, Text, render_all, step
from tests.telegram.bot_api_spec import BotApiSpec, official_spec
from tests.telegram.fake_bot_api import DATE, FakeBotApi, OfflineRequest

TOKEN = "123456:offline-bench-token"
BASE_URL = "https://api.telegram.org/bot"
UPDATE_IDS = itertools.count(10_000_000)  # unique across the run: the bot drops redelivered updates


class NoChecks(BotApiSpec):
    """A spec that finds nothing wrong: for timed turns, so the checker's cost is not measured."""

    def __init__(self) -> None:
        pass

    def check_call(self, method: str, params: Any, form_encoded: bool = False) -> list[str]:
        return []


@dataclass
class BenchApi(FakeBotApi):
    """The tests' fake Bot API, noting when each message was sent, overall and per chat."""

    sent_at: list[float] = field(default_factory=list)
    sent_by_chat: dict[int, list[float]] = field(default_factory=dict)

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "sendMessage":
            moment = time.time()  # the wall clock: Telegram counts per clock second
            self.sent_at.append(moment)
            self.sent_by_chat.setdefault(int(params.get("chat_id", 0)), []).append(moment)
        return super().answer(method, params)

    def unchecked(self) -> None:
        self.spec = NoChecks()


def offline_api() -> BenchApi:
    return BenchApi(official_spec())


class RoundTrip(OfflineRequest):
    """The offline Bot API answering each call after a simulated network round trip.

    Each call takes `rtt` seconds, varied uniformly by +-`jitter` (a share of rtt, from a seeded
    generator); Telegram acts on it halfway, which is when a message counts against its limit.
    """

    def __init__(self, api: FakeBotApi, rtt: float, jitter: float = 0.0, seed: int = 16) -> None:
        super().__init__(api, BASE_URL)
        self.rtt = rtt
        self.jitter = jitter
        self.random = random.Random(seed)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if self.rtt <= 0:
            return await super().do_request(*args, **kwargs)
        half = self.rtt * (1 + self.random.uniform(-self.jitter, self.jitter)) / 2
        await asyncio.sleep(half)
        answer = await super().do_request(*args, **kwargs)
        await asyncio.sleep(half)
        return answer


class Clock:
    """A clock the benchmark sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def lifted_limiter(**_settings: object) -> AIORateLimiter:
    """PTB's limiter with its group limit lifted too (the overall one is already off in build_application)."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0)


@dataclass
class Running:
    """An initialised application on a fake Bot API; `coach` is None for the baselines."""

    application: Application
    api: BenchApi
    bot: TelegramBot | None = None
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def coach(self) -> Coach | None:
        return self.bot.coach if self.bot is not None else None

    async def close(self) -> None:
        await self.stack.aclose()


# "Limits lifted": a send rate no one reaches (the dispatcher sends as many rows at once as it allows),
# and the limiters themselves taken out (`real_bot`).
LIFTED_RATE = 100_000


def settings_for(database_url: str, send_rate: int = 30) -> Settings:
    return Settings(
        database_url=database_url,
        telegram_token=TOKEN,
        telegram_api_url=BASE_URL,
        upgrade_on_start=False,
        send_rate=send_rate,
    )


async def real_bot(
    database_url: str, clock: Clock, limited: bool = False, rtt: float = 0.0, jitter: float = 0.0
) -> Running:
    settings = settings_for(database_url, 30 if limited else LIFTED_RATE)
    api = offline_api()
    request = RoundTrip(api, rtt, jitter)
    requests = {"request": request, "updates_request": OfflineRequest(api, BASE_URL)}
    if limited:
        bot = await build_telegram(settings, clock=clock, **requests)
    else:
        with mock.patch.object(telegram_app, "AIORateLimiter", lifted_limiter):
            bot = await build_telegram(settings, clock=clock, **requests)
        bot.sender.limiter = None  # the send-slot limiter (30 a second, shared by replicas): lifted too
    running = Running(bot.application, api, bot)
    running.stack.push_async_callback(bot.database.close)
    await running.stack.enter_async_context(bot.application)
    return running


async def coach_on(database_url: str, clock: Clock) -> tuple[Coach, Database]:
    """The coach alone on a seeded database, as bootstrap builds it (no Telegram)."""
    settings = settings_for(database_url)
    database = await open_database(settings)
    return build_coach(settings, load_content(), database, clock), database


def _bare_application(api: FakeBotApi, **persistence: Any) -> Application:
    builder = Application.builder().token(TOKEN).base_url(BASE_URL)
    builder = builder.request(OfflineRequest(api, BASE_URL)).get_updates_request(
        OfflineRequest(api, BASE_URL)
    )
    if persistence:
        builder = builder.persistence(persistence["persistence"])
    return builder.build()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say the text back."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def echo_bot() -> Running:
    api = offline_api()
    application = _bare_application(api)
    application.add_handler(MessageHandler(filters.TEXT, echo))
    running = Running(application, api)
    await running.stack.enter_async_context(application)
    return running


# ---------------------------------------------------------------- the pickle bot

ASK_CONSENT, ASK_URGENT = range(2)
CONVERSATION = "onboarding"


def onboarding_texts() -> tuple[str, str]:
    """The coach's own first two questions (consent, then urgent red flags), as the engine renders them."""
    content = load_content()
    first = step(State(), Text("hi"), datetime(2026, 12, 7), content)
    second = step(first.state, Choice("consent:yes"), datetime(2026, 12, 7), content)
    return render_all(first.replies, content)[-1].text, render_all(second.replies, content)[-1].text


def pickle_handlers(texts: tuple[str, str]) -> ConversationHandler:
    consent_question, urgent_question = texts

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        """Ask for consent."""
        assert update.message is not None
        await update.message.reply_text(consent_question)
        return ASK_CONSENT

    async def consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        """Keep the answer, ask the next question."""
        assert update.message is not None and context.user_data is not None
        context.user_data["consent"] = update.message.text
        await update.message.reply_text(urgent_question)
        return ASK_URGENT

    async def urgent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        """Keep the answer; the rest of onboarding is not needed here."""
        assert update.message is not None and context.user_data is not None
        context.user_data["red_flags_urgent"] = update.message.text
        return ConversationHandler.END

    answer = filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={ASK_CONSENT: [MessageHandler(answer, consent)], ASK_URGENT: [MessageHandler(answer, urgent)]},
        fallbacks=[],
        name=CONVERSATION,
        persistent=True,
    )


def pickle_template(path: Path, users: int) -> None:
    """A PicklePersistence file (single file) in which `users` users were asked for consent."""
    data = {
        "conversations": {CONVERSATION: {(n, n): ASK_CONSENT for n in range(1, users + 1)}},
        "user_data": {n: {"started": "2026-12-07"} for n in range(1, users + 1)},
        "chat_data": {},
        "bot_data": {},
        "callback_data": None,
    }
    building = path.with_suffix(".building")
    with building.open("wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
    building.rename(path)


@dataclass
class PickleBot(Running):
    persistence: PicklePersistence | None = None

    async def commit(self) -> None:
        """Persist what the last turn changed, as the coach's commit does: one dump of the pickle file."""
        assert self.persistence is not None
        await self.application.update_persistence()
        await self.persistence.flush()


async def pickle_bot(path: Path, texts: tuple[str, str]) -> PickleBot:
    api = offline_api()
    persistence = PicklePersistence(path, on_flush=True)
    application = _bare_application(api, persistence=persistence)
    application.add_handler(pickle_handlers(texts))
    running = PickleBot(application, api, persistence=persistence)
    await running.stack.enter_async_context(application)
    return running


# ---------------------------------------------------------------- driving


def text_update(user_id: int, text: str) -> dict[str, Any]:
    """A private text message from a user, as Telegram sends it."""
    user = {"id": user_id, "is_bot": False, "first_name": "Sam", "language_code": "en"}
    chat = {"id": user_id, "type": "private", "first_name": "Sam"}
    message: dict[str, Any] = {"message_id": 500, "date": DATE, "chat": chat, "from": user, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next(UPDATE_IDS), "message": message}


async def turn(
    running: Running, user_id: int, text: str, replies: int, after: Callable | None = None
) -> None:
    """One update in, through process_update, until `replies` messages have reached the fake Bot API.

    Waiting for the replies (not just for process_update) keeps the figure honest if replies are
    ever sent from a task after the handler returns.
    """
    api, application = running.api, running.application
    first = len(api.delivered)
    await application.process_update(Update.de_json(text_update(user_id, text), application.bot))
    if after is not None:
        await after()
    deadline = time.perf_counter() + 10
    while len(api.delivered) - first < replies:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"expected {replies} replies, got {len(api.delivered) - first}")
        await asyncio.sleep(0)


async def settled_replies(running: Running, user_id: int, text: str) -> int:
    """How many messages a turn sends in the end (used on warm-up turns to learn what to wait for)."""
    first = len(running.api.delivered)
    await turn(running, user_id, text, 0)
    await asyncio.sleep(0.05)
    count = len(running.api.delivered) - first
    if count == 0:
        raise RuntimeError(f"the bot did not answer {text!r}")
    return count
