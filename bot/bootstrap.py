"""Settings (read in bot/settings.py) wired into a coach."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hipcoach import content, flows
from hipcoach.bot.coach import Clock, Coach, Notifier, Staff
from hipcoach.bot.entrypoints.ops import JsonFormatter
from hipcoach.bot.files.animation_files import AnimationCache
from hipcoach.bot.files.private_files import private_sqlite_file
from hipcoach.bot.settings import (  # noqa: F401 (re-exported: callers take their settings from here)
    ConfigError,
    Settings,
    load_settings,
    settings_from_env,
    with_overrides,
)
from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.sql import SqlStorage


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
