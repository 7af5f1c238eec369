"""The one place that reads configuration: environment variables and defaults, wired into a coach."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hipcoach import content, flows
from hipcoach.bot.coach import Clock, Coach, Notifier, Staff
from hipcoach.bot.entrypoints.ops import JsonFormatter
from hipcoach.bot.files.animation_files import AnimationCache
from hipcoach.bot.files.private_files import private_sqlite_file
from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.sql import SqlStorage

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOG_FORMATS = ("plain", "json")


class ConfigError(ValueError):
    """A setting that cannot work, explained for the person who set it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    telegram_token: str | None = None
    content_dir: Path | None = None
    log_level: str = "WARNING"
    upgrade_on_start: bool = True
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    files_dir: Path = Path("hipcoach-files")
    coach_chat_id: int | None = None
    admin_ids: frozenset[int] = frozenset()
    retention_days: int | None = None
    log_format: str = "plain"  # or "json": one JSON object a line
    # Serve /healthz and /metrics on this port too (on webhook_listen): polling mode's only way to them.
    metrics_port: int | None = None
    # Messages per second to Telegram, shared by every replica on the database (bot/rate_limit.py).
    send_rate: int = 30

    @property
    def retention(self) -> timedelta | None:
        return timedelta(days=self.retention_days) if self.retention_days else None


def data_dir(env: Mapping[str, str]) -> Path:
    """The user's data directory for Hip Coach (XDG Base Directory)."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", Path.home())) / ".local" / "share")
    return Path(base) / "hipcoach"


def default_database_url(env: Mapping[str, str]) -> str:
    """A SQLite file in the user's data directory."""
    return f"sqlite+aiosqlite:///{data_dir(env) / 'hipcoach.db'}"


def _ids(text: str, name: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise ConfigError(f"{name} must be Telegram user ids (numbers) separated by commas") from None


def _optional_int(text: str | None, name: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number") from None


def _whole(text: str, name: str) -> int:
    whole = _optional_int(text, name)
    assert whole is not None
    return whole


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
    return check_settings(
        Settings(
            database_url=async_url(
                database_url or env.get("HIPCOACH_DATABASE_URL") or default_database_url(env)
            ),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            content_dir=Path(content_dir) if content_dir else None,
            log_level=env.get("HIPCOACH_LOG_LEVEL", "WARNING").upper(),
            upgrade_on_start=env.get("HIPCOACH_AUTO_MIGRATE", "1") not in ("0", "false", "no"),
            telegram_api_url=env.get("TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API_URL,
            webhook_url=env.get("HIPCOACH_WEBHOOK_URL") or None,
            webhook_secret=env.get("HIPCOACH_WEBHOOK_SECRET") or None,
            webhook_listen=env.get("HIPCOACH_WEBHOOK_LISTEN") or "127.0.0.1",
            webhook_port=_port(env.get("HIPCOACH_WEBHOOK_PORT") or "8443"),
            files_dir=Path(env.get("HIPCOACH_FILES_DIR") or data_dir(env) / "files"),
            coach_chat_id=_optional_int(env.get("HIPCOACH_COACH_CHAT_ID"), "HIPCOACH_COACH_CHAT_ID"),
            admin_ids=_ids(env.get("HIPCOACH_ADMIN_IDS", ""), "HIPCOACH_ADMIN_IDS"),
            retention_days=_optional_int(env.get("HIPCOACH_RETENTION_DAYS"), "HIPCOACH_RETENTION_DAYS"),
            log_format=(env.get("HIPCOACH_LOG_FORMAT") or "plain").lower(),
            metrics_port=_optional_int(env.get("HIPCOACH_METRICS_PORT"), "HIPCOACH_METRICS_PORT"),
            send_rate=_whole(env.get("HIPCOACH_SEND_RATE") or "30", "HIPCOACH_SEND_RATE"),
        )
    )


def with_overrides(settings: Settings, **values: Any) -> Settings:
    """Settings with command-line values put over the environment's; None leaves a setting as it was."""
    chosen = {name: value for name, value in values.items() if value is not None}
    return check_settings(replace(settings, **chosen))


def check_settings(settings: Settings) -> Settings:
    """Fail early, with a clear message, on settings that cannot work."""
    if settings.webhook_secret is not None and not WEBHOOK_SECRET.fullmatch(settings.webhook_secret):
        raise ConfigError("HIPCOACH_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    if not 0 < settings.webhook_port < 65536:
        raise ConfigError("HIPCOACH_WEBHOOK_PORT must be a port number (1-65535)")
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError("HIPCOACH_LOG_FORMAT must be plain or json")
    if settings.metrics_port is not None and not 0 < settings.metrics_port < 65536:
        raise ConfigError("HIPCOACH_METRICS_PORT must be a port number (1-65535)")
    if settings.send_rate < 1:
        raise ConfigError("HIPCOACH_SEND_RATE must be at least 1 (messages per second, all replicas)")
    if settings.webhook_url and settings.metrics_port == settings.webhook_port:
        raise ConfigError("HIPCOACH_METRICS_PORT must differ from HIPCOACH_WEBHOOK_PORT (/healthz is there)")
    return settings


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > len("65535"):  # '²' is a digit to isdigit
        raise ConfigError("HIPCOACH_WEBHOOK_PORT must be a port number (1-65535)")
    return int(text)


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


async def build_coach(settings: Settings, clock: Clock = utc_now, notifier: Notifier | None = None) -> Coach:
    """Content loaded and checked, database upgraded, storage wired: a coach ready to take turns."""
    coach_content = load_content(settings.content_dir)
    ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    if settings.upgrade_on_start:
        try:
            await upgrade(engine)
        except BaseException:  # failed, or cancelled by a signal during startup: no connection left open
            await engine.dispose()
            raise
    staff = Staff(notifier=notifier, admin_ids=settings.admin_ids)
    coach = Coach(SqlStorage(engine), coach_content, clock, staff)
    coach.animations = AnimationCache(settings.files_dir / "animations")
    return coach


async def rehearsal_clock(coach: Coach, user_id: int, text: str) -> Clock:
    """A clock stopped at `text` (ISO); a time without a zone is read in the user's own time zone."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        state = await coach.storage.load_state(user_id)
        zone = state.data.get("schedule", {}).get("zone", "UTC")
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    fixed = moment.astimezone(UTC)
    return lambda: fixed
