"""The one place that reads configuration: environment variables and defaults, wired into a coach."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import content
import flows
from bot.coach import Clock, Coach
from bot.db import make_engine, upgrade
from bot.storage import SqlStorage


@dataclass(frozen=True)
class Settings:
    database_url: str
    telegram_token: str | None = None
    content_dir: Path | None = None
    log_level: str = "WARNING"
    upgrade_on_start: bool = True


def default_database_url(env: Mapping[str, str]) -> str:
    """A SQLite file in the user's data directory (XDG Base Directory)."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", Path.home())) / ".local" / "share")
    return f"sqlite+aiosqlite:///{Path(base) / 'hipcoach' / 'hipcoach.db'}"


def async_url(url: str) -> str:
    """Accept plain SQLAlchemy URLs and pick the async driver we ship."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


def settings_from_env(env: Mapping[str, str] | None = None, database_url: str | None = None) -> Settings:
    env = os.environ if env is None else env
    content_dir = env.get("HIPCOACH_CONTENT_DIR")
    return Settings(
        database_url=async_url(database_url or env.get("HIPCOACH_DATABASE_URL") or default_database_url(env)),
        telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
        content_dir=Path(content_dir) if content_dir else None,
        log_level=env.get("HIPCOACH_LOG_LEVEL", "WARNING").upper(),
        upgrade_on_start=env.get("HIPCOACH_AUTO_MIGRATE", "1") not in ("0", "false", "no"),
    )


def load_content(directory: Path | None = None) -> content.Content:
    return content.load(directory, required_messages=flows.MESSAGE_PARAMS)


def utc_now() -> datetime:
    return datetime.now(UTC)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def ensure_sqlite_directory(url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:":
        Path(url.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)


async def build_coach(settings: Settings, clock: Clock = utc_now) -> Coach:
    """Content loaded and checked, database upgraded, storage wired: a coach ready to take turns."""
    coach_content = load_content(settings.content_dir)
    ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    if settings.upgrade_on_start:
        await upgrade(engine)
    return Coach(SqlStorage(engine), coach_content, clock)
