"""Telegram settings come from the environment and the command line, and bad ones fail clearly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.bootstrap import ConfigError, settings_from_env, with_overrides

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
    ],
)
def test_a_setting_that_cannot_work_is_refused(env):
    with pytest.raises(ConfigError):
        settings_from_env({**BASE, **env})


def run(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    full = {**clean, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
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
