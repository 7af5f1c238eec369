"""Fixtures for the Telegram tests: the Bot API reference, an offline bot, and the Bot API emulator."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipcoach.bot.bootstrap import Settings, TelegramBot, build_telegram
from hipcoach.bot.coach import Coach
from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from hipcoach.bot.telegram.app import announce_commands
from hipcoach.bot.telegram.sender import TelegramSender
from tests.fakes import FakeClock
from tests.telegram.bot_api_emulator import Emulator
from tests.telegram.bot_api_spec import BotApiSpec, official_spec
from tests.telegram.fake_bot_api import FakeBotApi, OfflineRequest
from tests.telegram.offline_chat import OfflineChat

TOKEN = "123456:offline-test-token"
BASE_URL = "https://api.telegram.org/bot"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@dataclass
class Sleeps:
    """An injected sleep that only notes how long the bot asked to wait."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class OfflineBot:
    """The bot as bootstrap builds it (`built`), a user's chat with it, and the fakes around it."""

    chat: OfflineChat
    api: FakeBotApi
    built: TelegramBot
    clock: FakeClock
    sleeps: Sleeps

    @property
    def coach(self) -> Coach:
        return self.built.coach

    @property
    def sender(self) -> TelegramSender:
        return self.built.sender

    @property
    def storage(self) -> SqlStorage:
        return self.built.database.storage

    @property
    def reports(self) -> SqlReports:
        return self.built.database.reports


@pytest.fixture(scope="session")
def bot_api_spec() -> BotApiSpec:
    return official_spec()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Path:
    """A SQLite file with every migration applied, made once and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "hipcoach.db"

    async def migrate() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture
def database_url(tmp_path, migrated_database) -> str:
    shutil.copyfile(migrated_database, tmp_path / "hipcoach.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'hipcoach.db'}"


@pytest.fixture
def offline_settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        telegram_token=TOKEN,
        telegram_api_url=BASE_URL,
        upgrade_on_start=False,
        files_dir=tmp_path / "files",
    )


@pytest.fixture
async def offline_bot(offline_settings, bot_api_spec) -> AsyncIterator[OfflineBot]:
    """The real application, coach and SQLite storage; only Telegram is fake, and every call is checked."""
    async with offline(offline_settings, bot_api_spec) as bot:
        yield bot


@asynccontextmanager
async def offline(settings: Settings, bot_api_spec: BotApiSpec) -> AsyncIterator[OfflineBot]:
    """The bot built from `settings` by bootstrap, with a fake Telegram, a test clock and a noting sleep."""
    api, sleeps, clock = FakeBotApi(bot_api_spec), Sleeps(), FakeClock(NOW)
    request = OfflineRequest(api, BASE_URL)
    built = await build_telegram(
        settings, clock=clock, request=request, updates_request=request, sleep=sleeps
    )
    try:
        async with built.application as application:
            await announce_commands(application, built.sender, built.coach.content)
            yield OfflineBot(OfflineChat(application, api), api, built, clock, sleeps)
    finally:
        await built.database.close()
    assert api.violations == [], "Bot API calls that break the official reference"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """telegram-test-api with our harness, on a free loopback port, for the whole session."""
    with Emulator.start() as running:
        yield running
