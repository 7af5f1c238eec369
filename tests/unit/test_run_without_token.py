"""`hipcoach run` without a token opens the terminal chat only for a person at a terminal."""

import os

import pytest

from hipcoach.bot.entrypoints.cli import main, why_not_serve
from hipcoach.bot.settings import Settings

NO_TERMINAL = (
    "TELEGRAM_BOT_TOKEN is not set and standard input is not a terminal: "
    "set the token to serve Telegram, or run `hipcoach chat` to chat here"
)
DATABASE = "sqlite+aiosqlite:///never-opened.db"


def at_terminal() -> bool:
    return True


def piped() -> bool:
    return False


@pytest.mark.parametrize(
    "settings, is_terminal, refusal",
    [
        (Settings(database_url=DATABASE), piped, NO_TERMINAL),
        (Settings(database_url=DATABASE), at_terminal, None),  # the terminal chat
        (Settings(database_url=DATABASE, telegram_token="1:t"), piped, None),  # Telegram
        (
            Settings(database_url=DATABASE, webhook_url="https://x.test/hook"),
            at_terminal,
            "a webhook needs TELEGRAM_BOT_TOKEN",
        ),
    ],
)
def test_run_refuses_only_what_cannot_work(settings, is_terminal, refusal):
    assert why_not_serve(settings, is_terminal) == refusal


@pytest.mark.parametrize("argv", [[], ["run"]])
def test_run_without_a_token_or_a_terminal_exits_2_with_one_line_and_creates_nothing(
    argv, tmp_path, monkeypatch, capsys
):
    for name in list(os.environ):
        if name.startswith(("HIPCOACH_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(argv, is_terminal=piped) == 2
    assert capsys.readouterr() == ("", NO_TERMINAL + "\n")
    assert list(tmp_path.iterdir()) == []  # no data directory, no database, no user
