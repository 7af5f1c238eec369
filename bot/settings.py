"""The one place that reads configuration: each setting, its environment variable, default and check."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOG_FORMATS = ("plain", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting that cannot work, explained for the person who set it."""


# Each check raises ValueError with what the value must be; the variable's name is put in front of it.


def _whole_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _port_text(value: Any) -> Any:
    if isinstance(value, str) and (
        not (value.isascii() and value.isdigit()) or len(value) > len("65535")  # '²' is a digit to isdigit
    ):
        raise ValueError("must be a port number (1-65535)")
    return value


def _port_range(port: int | None) -> int | None:
    if port is not None and not 0 < port < 65536:
        raise ValueError("must be a port number (1-65535)")
    return port


def _user_ids(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return frozenset(int(part) for part in value.replace(",", " ").split())
    except ValueError:
        raise ValueError("must be Telegram user ids (numbers) separated by commas") from None


def _switch(value: Any) -> Any:
    return value.lower() not in ("0", "false", "no") if isinstance(value, str) else value


def _secret(secret: str | None) -> str | None:
    if secret is not None and not WEBHOOK_SECRET.fullmatch(secret):
        raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    return secret


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
    return text.upper()


def _log_format(text: str) -> str:
    if text.lower() not in LOG_FORMATS:
        raise ValueError("must be plain or json")
    return text.lower()


def _send_rate(rate: int) -> int:
    if rate < 1:
        raise ValueError("must be at least 1 (messages per second, all replicas)")
    return rate


def async_url(url: str) -> str:
    """Accept plain SQLAlchemy URLs and pick the async driver we ship."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


Whole = Annotated[int, BeforeValidator(_whole_number)]
Port = Annotated[int, BeforeValidator(_port_text), AfterValidator(_port_range)]
OptionalPort = Annotated[int | None, BeforeValidator(_whole_number), AfterValidator(_port_range)]
UserIds = Annotated[frozenset[int], BeforeValidator(_user_ids)]


class Settings(BaseSettings):
    """Hip Coach's settings; each field's alias is the environment variable it is read from."""

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True)

    # Kept out of repr: the token, the secret and a database password must never reach a log.
    database_url: Annotated[str, AfterValidator(async_url)] = Field(alias="HIPCOACH_DATABASE_URL", repr=False)
    telegram_token: str | None = Field(None, alias="TELEGRAM_BOT_TOKEN", repr=False)
    content_dir: Path | None = Field(None, alias="HIPCOACH_CONTENT_DIR")
    log_level: Annotated[str, AfterValidator(_log_level)] = Field("WARNING", alias="HIPCOACH_LOG_LEVEL")
    upgrade_on_start: Annotated[bool, BeforeValidator(_switch)] = Field(True, alias="HIPCOACH_AUTO_MIGRATE")
    telegram_api_url: str = Field(DEFAULT_TELEGRAM_API_URL, alias="TELEGRAM_API_URL")
    webhook_url: str | None = Field(None, alias="HIPCOACH_WEBHOOK_URL")
    webhook_secret: Annotated[str | None, AfterValidator(_secret)] = Field(
        None, alias="HIPCOACH_WEBHOOK_SECRET", repr=False
    )
    webhook_listen: str = Field("127.0.0.1", alias="HIPCOACH_WEBHOOK_LISTEN")
    webhook_port: Port = Field(8443, alias="HIPCOACH_WEBHOOK_PORT")
    files_dir: Path = Field(Path("hipcoach-files"), alias="HIPCOACH_FILES_DIR")
    coach_chat_id: Annotated[int | None, BeforeValidator(_whole_number)] = Field(
        None, alias="HIPCOACH_COACH_CHAT_ID"
    )
    admin_ids: UserIds = Field(frozenset(), alias="HIPCOACH_ADMIN_IDS")
    retention_days: Annotated[int | None, BeforeValidator(_whole_number)] = Field(
        None, alias="HIPCOACH_RETENTION_DAYS"
    )
    # "json": one JSON object a line.
    log_format: Annotated[str, AfterValidator(_log_format)] = Field("plain", alias="HIPCOACH_LOG_FORMAT")
    # Serve /healthz and /metrics on this port too (on webhook_listen): polling mode's only way to them.
    metrics_port: OptionalPort = Field(None, alias="HIPCOACH_METRICS_PORT")
    # Messages per second to Telegram, shared by every replica on the database (bot/delivery/rate_limit.py).
    send_rate: Annotated[Whole, AfterValidator(_send_rate)] = Field(30, alias="HIPCOACH_SEND_RATE")

    @property
    def retention(self) -> timedelta | None:
        return timedelta(days=self.retention_days) if self.retention_days else None

    @model_validator(mode="after")
    def _healthz_has_its_own_port(self) -> Settings:
        if self.webhook_url and self.metrics_port == self.webhook_port:
            raise ValueError(
                "HIPCOACH_METRICS_PORT must differ from HIPCOACH_WEBHOOK_PORT (/healthz is there)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given by name first (the command line, tests), then the environment load_settings reads."""
        env = _ENVIRONMENT.get()
        return (init_settings,) if env is None else (init_settings, Environment(settings_cls, env))


# The environment Settings reads while load_settings runs; none (values given by name only) otherwise.
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("environment", default=None)


class Environment(PydanticBaseSettingsSource):
    """Each setting from its variable, exactly as named; an empty variable is an unset one.

    With no variable, the database and files live in the user's data directory.
    """

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.env.get(field.alias or field_name) or None, field.alias or field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "HIPCOACH_DATABASE_URL": default_database_url(self.env),
            "HIPCOACH_FILES_DIR": data_dir(self.env) / "files",
        }
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


def data_dir(env: Mapping[str, str]) -> Path:
    """The user's data directory for Hip Coach (XDG Base Directory)."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", Path.home())) / ".local" / "share")
    return Path(base) / "hipcoach"


def default_database_url(env: Mapping[str, str]) -> str:
    """A SQLite file in the user's data directory."""
    return f"sqlite+aiosqlite:///{data_dir(env) / 'hipcoach.db'}"


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from `env` (default: this process's environment); an override that is not None wins."""
    chosen = {name: value for name, value in overrides.items() if value is not None}
    with _reading(os.environ if env is None else env), config_errors():
        return Settings(**chosen)


def with_overrides(settings: Settings, **overrides: Any) -> Settings:
    """`settings` with the values that are not None put over them, checked again."""
    chosen = {name: value for name, value in overrides.items() if value is not None}
    with config_errors():
        return Settings(**{**dict(settings), **chosen})


def settings_from_env(env: Mapping[str, str] | None = None, database_url: str | None = None) -> Settings:
    return load_settings(env, database_url=database_url)


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRONMENT.set(env)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


@contextmanager
def config_errors() -> Iterator[None]:
    """A ValidationError becomes one ConfigError line naming each variable at fault."""
    try:
        yield
    except ValidationError as error:
        raise ConfigError("; ".join(_problem(problem) for problem in error.errors())) from None


def _problem(problem: Any) -> str:
    cause = problem.get("ctx", {}).get("error")
    what = str(cause) if isinstance(cause, ValueError) else problem["msg"]
    if not problem["loc"]:  # the whole model's check names its variables itself
        return what
    key = str(problem["loc"][0])
    field = Settings.model_fields.get(key)
    return f"{field.alias if field else key} {what}"
