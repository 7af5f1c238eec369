"""Telegram settings come from the environment and the command line, and bad ones fail clearly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hipcoach.bot.bootstrap import build_telegram
from hipcoach.bot.delivery.rate_limit import LocalSendLimiter
from hipcoach.bot.settings import ConfigError, load_settings, settings_from_env, with_overrides
from hipcoach.bot.telegram.sender import TelegramSender
from hipcoach.flows import Message
from tests.telegram.fake_bot_api import FakeBotApi, OfflineRequest

BASE = {"HOME": "/nonexistent"}


def test_the_official_bot_api_is_the_default():
    settings = settings_from_env(BASE)
    assert settings.telegram_api_url == "https://api.telegram.org/bot"
    assert settings.webhook_url is None


def test_telegram_api_url_and_webhook_settings_are_read_from_the_environment():
    env = {
        **BASE,
        "TELEGRAM_BOT_TOKEN": "1:t",
        "TELEGRAM_API_URL": "http://127.0.0.1:9000/bot",
        "HIPCOACH_WEBHOOK_URL": "https://coach.example/telegram",
        "HIPCOACH_WEBHOOK_SECRET": "abc_DEF-123",
        "HIPCOACH_WEBHOOK_LISTEN": "0.0.0.0",
        "HIPCOACH_WEBHOOK_PORT": "8080",
    }
    settings = settings_from_env(env)
    assert settings.telegram_api_url == "http://127.0.0.1:9000/bot"
    assert (settings.webhook_url, settings.webhook_secret) == (
        "https://coach.example/telegram",
        "abc_DEF-123",
    )
    assert (settings.webhook_listen, settings.webhook_port) == ("0.0.0.0", 8080)


def test_the_command_line_overrides_the_environment_and_none_keeps_it():
    settings = settings_from_env({**BASE, "HIPCOACH_WEBHOOK_PORT": "8080"})
    changed = with_overrides(settings, webhook_url="https://coach.example/hook", webhook_port=None)
    assert (changed.webhook_url, changed.webhook_port) == ("https://coach.example/hook", 8080)


@pytest.mark.parametrize(
    "env",
    [
        {"HIPCOACH_WEBHOOK_SECRET": "has spaces"},
        {"HIPCOACH_WEBHOOK_SECRET": "x" * 257},
        {"HIPCOACH_WEBHOOK_PORT": "eighty"},
        {"HIPCOACH_WEBHOOK_PORT": "70000"},
        {"HIPCOACH_WEBHOOK_PORT": "²"},  # a digit to str.isdigit(), not to int()
        {"HIPCOACH_WEBHOOK_PORT": "9" * 5000},  # more digits than int() converts
    ],
)
def test_a_setting_that_cannot_work_is_refused(env):
    with pytest.raises(ConfigError):
        settings_from_env({**BASE, **env})


@pytest.mark.parametrize(
    "env, line",
    [
        (
            {"HIPCOACH_ADMIN_IDS": "7, ann"},
            "HIPCOACH_ADMIN_IDS must be Telegram user ids (numbers) separated by commas",
        ),
        ({"HIPCOACH_COACH_CHAT_ID": "-100x"}, "HIPCOACH_COACH_CHAT_ID must be a whole number"),
        ({"HIPCOACH_RETENTION_DAYS": "a year"}, "HIPCOACH_RETENTION_DAYS must be a whole number"),
        (
            {"HIPCOACH_SEND_RATE": "0"},
            "HIPCOACH_SEND_RATE must be at least 1 (messages per second, all replicas)",
        ),
        (
            {"HIPCOACH_LOG_LEVEL": "loud"},
            "HIPCOACH_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"HIPCOACH_WEBHOOK_PORT": "0", "HIPCOACH_SEND_RATE": "many"},
            "HIPCOACH_WEBHOOK_PORT must be a port number (1-65535); "
            "HIPCOACH_SEND_RATE must be a whole number",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_variable_never_a_validation_error(env, line):
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, **env})
    assert str(refused.value) == line
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_settings_come_from_the_mapping_given_not_from_this_process(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:from-the-process")
    monkeypatch.setenv("HIPCOACH_SEND_RATE", "0")  # would be refused if it were read
    settings = load_settings({**BASE, "HIPCOACH_SEND_RATE": "12"})
    assert (settings.telegram_token, settings.send_rate) == (None, 12)


def test_without_variables_the_database_and_files_live_in_the_users_data_directory():
    settings = load_settings({"HOME": "/home/ann"})
    assert settings.database_url == "sqlite+aiosqlite:////home/ann/.local/share/hipcoach/hipcoach.db"
    assert settings.files_dir == Path("/home/ann/.local/share/hipcoach/files")
    elsewhere = load_settings({"HOME": "/home/ann", "XDG_DATA_HOME": "/data"})
    assert elsewhere.files_dir == Path("/data/hipcoach/files")


def test_values_are_read_as_before_plain_urls_get_the_async_driver_and_empty_means_unset():
    settings = load_settings(
        {
            **BASE,
            "HIPCOACH_DATABASE_URL": "postgresql://coach@db/hipcoach",
            "HIPCOACH_AUTO_MIGRATE": "False",
            "HIPCOACH_ADMIN_IDS": "7, 8 9",
            "HIPCOACH_LOG_LEVEL": "info",
            "HIPCOACH_RETENTION_DAYS": "30",
            "TELEGRAM_BOT_TOKEN": "",
            "TELEGRAM_API_URL": "",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://coach@db/hipcoach"
    assert (settings.upgrade_on_start, settings.admin_ids, settings.log_level) == (False, {7, 8, 9}, "INFO")
    assert settings.retention == timedelta(days=30)
    assert (settings.telegram_token, settings.telegram_api_url) == (None, "https://api.telegram.org/bot")


def test_the_command_line_wins_over_the_environment_and_is_checked_the_same_way():
    env = {**BASE, "HIPCOACH_DATABASE_URL": "sqlite:///env.db", "HIPCOACH_WEBHOOK_PORT": "8080"}
    settings = load_settings(env, database_url="sqlite:///cli.db", webhook_port=None)
    assert (settings.database_url, settings.webhook_port) == ("sqlite+aiosqlite:///cli.db", 8080)
    with pytest.raises(ConfigError, match=r"^HIPCOACH_WEBHOOK_PORT must be a port number"):
        load_settings(env, webhook_port=70000)


def test_settings_are_frozen_and_their_repr_shows_no_token_secret_or_database_password():
    settings = load_settings(
        {
            **BASE,
            "TELEGRAM_BOT_TOKEN": "123:very-secret",
            "HIPCOACH_WEBHOOK_SECRET": "hook-secret",
            "HIPCOACH_DATABASE_URL": "postgresql://coach:db-password@db/hipcoach",
        }
    )
    for secret in ("very-secret", "hook-secret", "db-password"):
        assert secret not in repr(settings)
    with pytest.raises(ValidationError):
        settings.send_rate = 1  # type: ignore[misc]


def run(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    full = {**clean, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.e2e
def test_a_webhook_without_a_token_is_refused_before_anything_starts(tmp_path):
    result = run(["run", "--webhook-url", "https://coach.example/hook"], {}, tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr


@pytest.mark.e2e
def test_a_bad_webhook_secret_is_refused_with_a_clear_message(tmp_path):
    env = {"TELEGRAM_BOT_TOKEN": "1:t", "HIPCOACH_WEBHOOK_SECRET": "no spaces allowed"}
    result = run(["run", "--webhook-url", "https://coach.example/hook"], env, tmp_path)
    assert result.returncode == 2
    assert "HIPCOACH_WEBHOOK_SECRET" in result.stderr


# The send rate: HIPCOACH_SEND_RATE is the one overall limit, and it may be above 30 a second

SEND_RATE = 100  # above the 30 a second PTB's AIORateLimiter held each process to by default
GROUP_ID = -100123
API_URL = "https://api.telegram.org/bot"
SECOND = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # the start of a second: no slot is refused for lateness


class LoopClock:
    """The event loop's clock, stopped and moved by hand: PTB's AIORateLimiter keeps time by it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.now = self.loop.time()

    def __enter__(self) -> LoopClock:
        self.loop.time = lambda: self.now  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.loop.time


class LimiterTime:
    """The send-rate limiter's own clock, from the start of a second: it moves only when the limiter waits."""

    def __init__(self) -> None:
        self.now = SECOND

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def rated_sender(
    database_url, bot_api_spec
) -> AsyncIterator[tuple[TelegramSender, FakeBotApi, LimiterTime]]:
    """The application's sender with HIPCOACH_SEND_RATE=100, on the offline Bot API; its limiter's clock
    starts at the start of one second and moves only as the limiter spaces the sends."""
    env = {
        **BASE,
        "HIPCOACH_DATABASE_URL": database_url,
        "HIPCOACH_AUTO_MIGRATE": "0",
        "HIPCOACH_SEND_RATE": str(SEND_RATE),
        "TELEGRAM_BOT_TOKEN": "123456:rate-test-token",
    }
    settings = settings_from_env(env)
    api = FakeBotApi(bot_api_spec)
    requests = {"request": OfflineRequest(api, API_URL), "updates_request": OfflineRequest(api, API_URL)}
    built = await build_telegram(settings, **requests)
    application, sender = built.application, built.sender
    assert getattr(sender.limiter, "rate", None) == SEND_RATE
    time = LimiterTime()
    sender.limiter = LocalSendLimiter(SEND_RATE, clock=time.clock, sleep=time.sleep)
    try:
        async with application:
            yield sender, api, time
    finally:
        await built.database.close()


async def send_each(sender: TelegramSender, chat_ids: Iterable[int]) -> None:
    for chat_id in chat_ids:
        await sender.send_to_chat(chat_id, [Message("hello")])


async def run_while_time_stands_still(task: asyncio.Task[Any]) -> None:
    """Let `task` get as far as it can without the loop's clock moving (no real I/O: nothing else waits)."""
    for _ in range(10_000):
        if task.done():
            task.result()
            return
        await asyncio.sleep(0)


async def cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.wait([task])


async def test_one_process_sends_as_many_messages_in_a_second_as_the_send_rate_allows(rated_sender):
    sender, api, time = rated_sender
    with LoopClock():
        sending = asyncio.create_task(send_each(sender, range(1, SEND_RATE + 1)))  # private chats
        try:
            await run_while_time_stands_still(sending)
        finally:
            await cancelled(sending)
    assert len(api.delivered) == SEND_RATE
    assert time.now < SECOND + timedelta(seconds=1)  # spread over the second, all within it


async def test_a_group_chat_still_gets_at_most_20_answers_a_minute(rated_sender):
    sender, api, _ = rated_sender
    with LoopClock() as clock:
        sending = asyncio.create_task(send_each(sender, [GROUP_ID] * 21))
        try:
            await run_while_time_stands_still(sending)
            held_at = len(api.delivered)
            clock.now += 60 / 20
            await run_while_time_stands_still(sending)
        finally:
            await cancelled(sending)
    assert (held_at, len(api.delivered)) == (20, 21)
