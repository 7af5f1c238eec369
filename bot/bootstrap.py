"""The one place that builds the shell: settings (read in bot/settings.py) wired into every piece."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application
from telegram.request import BaseRequest

from hipcoach import content, flows
from hipcoach.bot.coach import Clock, Coach, Notifier, Observer, Staff, UserFiles
from hipcoach.bot.delivery import rate_limit
from hipcoach.bot.delivery.dispatcher import Dispatcher, senders_for
from hipcoach.bot.entrypoints import ops
from hipcoach.bot.entrypoints.ops import JsonFormatter
from hipcoach.bot.entrypoints.terminal import Inbox, SavedFiles, TerminalChat
from hipcoach.bot.files.animation_files import AnimationCache
from hipcoach.bot.files.animation_store import SqlFileIds
from hipcoach.bot.files.private_files import private_sqlite_file
from hipcoach.bot.settings import (  # noqa: F401 (re-exported: callers take their settings from here)
    ConfigError,
    Settings,
    load_settings,
    settings_from_env,
    with_overrides,
)
from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.port import Storage
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from hipcoach.bot.telegram import app as telegram_app
from hipcoach.bot.telegram.adapter import TelegramAdapter
from hipcoach.bot.telegram.live_keyboards import SqlLiveKeyboards
from hipcoach.bot.telegram.sender import Sleep, TelegramNotifier, TelegramSender


def load_content(directory: Path | None = None) -> content.Content:
    return content.load(directory, required_messages=flows.MESSAGE_PARAMS)


def utc_now() -> datetime:
    return datetime.now(UTC)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    logging.captureWarnings(True)  # warnings too become log lines, in the same format
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # At DEBUG these log whole requests, updates and SQL parameters: message text and answers.
    for name, quietest in (
        ("httpcore", logging.WARNING),
        ("telegram", logging.INFO),
        ("aiosqlite", logging.INFO),
    ):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), quietest))


def ensure_sqlite_directory(url: str) -> None:
    """A SQLite database's folder (0700 if made here) and file (0600), whatever the umask."""
    prefix = "sqlite+aiosqlite:///"
    path = url.removeprefix(prefix)
    if url.startswith(prefix) and path != ":memory:" and not path.startswith("file:") and "?" not in path:
        private_sqlite_file(Path(path))


@dataclass(frozen=True)
class Database:
    """The database, upgraded: the storage port, the reporting port, and the engine to close."""

    engine: AsyncEngine
    storage: SqlStorage
    reports: SqlReports

    async def close(self) -> None:
        await self.storage.close()


async def open_database(settings: Settings) -> Database:
    """The configured database, its schema brought up to date unless that is turned off."""
    ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    if settings.upgrade_on_start:
        try:
            await upgrade(engine)
        except BaseException:  # failed, or cancelled by a signal during startup: no connection left open
            await engine.dispose()
            raise
    return Database(engine, SqlStorage(engine), SqlReports(engine))


def build_coach(
    settings: Settings,
    coach_content: content.Content,
    database: Database,
    clock: Clock,
    *,
    notifier: Notifier | None = None,
    observer: Observer | None = None,
    user_files: UserFiles | None = None,
    animation_kind: str = "gif",
) -> Coach:
    """A coach with every collaborator it will ever have."""
    return Coach(
        database.storage,
        database.reports,
        coach_content,
        clock,
        staff=Staff(notifier=notifier, admin_ids=settings.admin_ids),
        observer=observer,
        user_files=user_files,
        animations=AnimationCache(settings.files_dir / "animations"),
        animation_kind=animation_kind,
    )


@dataclass(frozen=True)
class Chat:
    """The terminal chat and what it runs on."""

    database: Database
    coach: Coach
    dispatcher: Dispatcher
    terminal: TerminalChat


async def build_chat(
    settings: Settings,
    user_id: int,
    json_mode: bool,
    stdin: TextIO,
    stdout: TextIO,
    now: str | None = None,
    clock: Clock = utc_now,
) -> Chat:
    """The terminal chat as one user; `now` (ISO) rehearses a moment, and prompts due by then come first."""
    coach_content = load_content(settings.content_dir)
    database = await open_database(settings)
    try:
        if now is not None:
            clock = await rehearsal_clock(database.storage, user_id, now)
    except BaseException:  # a moment that cannot be read: no connection left open
        await database.close()
        raise
    inbox, saved = Inbox(), SavedFiles(settings.files_dir)
    coach = build_coach(settings, coach_content, database, clock, user_files=saved)
    dispatcher = Dispatcher(coach, database.storage, inbox, clock)
    terminal = TerminalChat(
        coach, database.storage, dispatcher, inbox, saved, user_id, json_mode, stdin, stdout
    )
    return Chat(database, coach, dispatcher, terminal)


@dataclass(frozen=True)
class TelegramBot:
    """The coach as a Telegram bot: application, sender, dispatcher, metrics and health, on one database."""

    database: Database
    coach: Coach
    application: Application
    sender: TelegramSender
    dispatcher: Dispatcher
    metrics: ops.Metrics
    health: ops.Health

    @property
    def routes(self) -> ops.Routes:
        return ops.routes(self.metrics, self.health, self.database.engine)


async def build_telegram(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    sleep: Sleep = asyncio.sleep,
) -> TelegramBot:
    """Everything the Telegram shell runs, wired once; requests, clock and sleep injectable for tests."""
    coach_content = load_content(settings.content_dir)
    application = telegram_app.build_application(settings, request=request, updates_request=updates_request)
    database = await open_database(settings)  # opened last: what follows only wires objects together
    storage, engine = database.storage, database.engine
    sender = TelegramSender(
        application.bot,
        storage.mark_inactive,
        sleep,
        # One send rate for every replica on the database (the limiter sleeps for real, not with `sleep`).
        limiter=rate_limit.limiter_for(engine, settings.send_rate),
        file_ids=SqlFileIds(storage.sessions, storage.writing),
        keyboards=SqlLiveKeyboards(storage.transactions),
    )
    chat_id = settings.coach_chat_id
    notifier = TelegramNotifier(sender, chat_id) if chat_id is not None else None
    metrics = ops.Metrics()
    # MP4 is what sendAnimation takes best; the terminal shows GIFs.
    coach = build_coach(
        settings, coach_content, database, clock, notifier=notifier, observer=metrics, animation_kind="mp4"
    )
    telegram_app.handle_updates(application, TelegramAdapter(coach, storage, sender))
    dispatcher = Dispatcher(
        coach,
        storage,
        sender,
        clock,
        metrics,
        retention=settings.retention,
        senders=senders_for(settings.send_rate),
    )
    health = ops.Health(engine, dispatcher.since_heartbeat, telegram_app.STALE_AFTER)
    return TelegramBot(database, coach, application, sender, dispatcher, metrics, health)


async def rehearsal_clock(storage: Storage, user_id: int, text: str) -> Clock:
    """A clock stopped at `text` (ISO); a time without a zone is read in the user's own time zone."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        state = await storage.load_state(user_id)
        zone = state.data.get("schedule", {}).get("zone", "UTC")
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    fixed = moment.astimezone(UTC)
    return lambda: fixed


# Python collects its youngest generation every 700 allocations by default. A turn or a prompt allocates
# tens of thousands of short-lived objects (Telegram's JSON and objects, the state's copy), nearly none in
# cycles: collecting every 20,000 raised prompts a second by 15% on PostgreSQL (1,020 to 1,180).
YOUNGEST_COLLECTED_EVERY = 20_000


def tune_garbage_collection() -> None:
    """For the long-running server, once everything is built: what is loaded now is left out of every
    later collection (`gc.freeze`), and the youngest generation is collected less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST_COLLECTED_EVERY, middle, oldest)
