"""`hipcoach run` over real HTTP against the Bot API emulator: long polling and a webhook with a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hipcoach.bot.bootstrap import load_content
from tests.telegram.bot_api_emulator import EmulatedUser, as_seen, free_port, stop
from tests.telegram.script import Shown, Step, onboarding, terminal_transcript

pytestmark = pytest.mark.e2e

SECRET = "s3cret_webhook-Token"


@contextmanager
def hipcoach_run(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`hipcoach run` as a subprocess; stopped with SIGTERM, and it must exit cleanly."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hipcoach.bot", "run", *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            code = stop(process)
    assert code == 0, log.read_text()


def bot_env(tmp_path: Path, token: str, api_url: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": api_url,
        "HIPCOACH_DATABASE_URL": f"sqlite:///{tmp_path / 'hipcoach.bot.storage.db'}",
        "HIPCOACH_LOG_LEVEL": "DEBUG",
        **extra,
    }


def play(user: EmulatedUser, steps: tuple[Step, ...], expected: list[list[Shown]]) -> None:
    """Each step as the user does it in Telegram; the bot's replies must read as in the terminal chat."""
    for step, turn in zip(steps, expected, strict=True):
        if step.kind == "press":
            user.press(step.value)
        else:
            user.say(step.value)
        assert [as_seen(message) for message in user.replies(len(turn))] == turn, step


def check_calls(user: EmulatedUser, spec, presses: int) -> None:
    """Every call fits the official reference; every press was answered and its message edited (the
    answer shown, or a multi-select toggled in place); one keyboard is left live, the last question's."""
    calls = user.calls()
    problems = [
        p
        for call in calls
        if not call.get("multipart")  # an upload, whose fields the emulator does not read
        for p in spec.check_call(call["method"], call["params"], form_encoded=True)
    ]
    assert problems == []
    methods = [call["method"] for call in calls]
    assert methods.count("answerCallbackQuery") == presses
    assert methods.count("editMessageText") == presses
    assert "setMyCommands" in methods and "sendChatAction" in methods
    kept = [m["messageId"] for m in user.stored_messages() if m["message"].get("reply_markup")]
    assert len(kept) == 1


def check_log(log: Path, expected: list[list[Shown]], *secrets: str) -> None:
    """Even at DEBUG, the log holds no token, no secret, no message text and nothing the user typed."""
    text = log.read_text()
    said = [step.value for step in onboarding() if step.kind == "text"]
    shown = [line for turn in expected for message_text, _ in turn for line in message_text.splitlines()]
    assert [s for s in [*secrets, *said, *shown] if len(s) > 12 and s in text] == []


def test_hipcoach_run_polls_and_a_user_onboards_by_pressing_buttons(emulator, tmp_path, bot_api_spec):
    expected = terminal_transcript(onboarding(), tmp_path)
    token = "1001:polling-test-token"
    user = emulator.user(token, user_id=5001)
    log = tmp_path / "hipcoach.bot.log"
    with hipcoach_run([], bot_env(tmp_path, token, emulator.api_url), log):
        user.wait_call("setMyCommands")
        play(user, onboarding(), expected)
    presses = sum(step.kind == "press" for step in onboarding())
    check_calls(user, bot_api_spec, presses)
    assert "getUpdates" in [call["method"] for call in user.calls()]
    check_log(log, expected, token)


def test_hipcoach_run_serves_a_webhook_that_requires_the_secret(emulator, tmp_path, bot_api_spec):
    expected = terminal_transcript(onboarding(), tmp_path)
    token = "1002:webhook-test-token"
    user = emulator.user(token, user_id=5002)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    env = bot_env(tmp_path, token, emulator.api_url, HIPCOACH_WEBHOOK_SECRET=SECRET)
    log = tmp_path / "hipcoach.bot.log"
    with hipcoach_run(["--webhook-url", url, "--webhook-port", str(port)], env, log):
        registered = user.wait_call("setWebhook")["params"]
        assert (registered["url"], registered["secret_token"]) == (url, SECRET)
        play(user, onboarding(), expected)
        assert_forged_deliveries_are_rejected(user, url)
    assert {delivery["status"] for delivery in user.deliveries()} == {200}
    presses = sum(step.kind == "press" for step in onboarding())
    check_calls(user, bot_api_spec, presses)
    check_log(log, expected, token, SECRET)


def assert_forged_deliveries_are_rejected(user: EmulatedUser, url: str) -> None:
    """Updates posted without Telegram's secret get 403 and change nothing: the next reply is to /help."""
    chat = {"id": user.user_id, "type": "private", "first_name": "Sam"}
    message = {"message_id": 9000, "date": 1_796_000_000, "chat": chat, "from": user.me, "text": "/restart"}
    message["entities"] = [{"type": "bot_command", "offset": 0, "length": 8}]
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}):
        update = {"update_id": 9000 + len(headers), "message": message}
        response = httpx.post(url, json=update, headers=headers, trust_env=False, timeout=10)
        assert response.status_code == 403
    user.say("/help")
    help_text, _ = as_seen(user.replies(1)[0])
    assert help_text == load_content().message("help").strip()
