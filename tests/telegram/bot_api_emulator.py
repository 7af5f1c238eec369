"""The npm Bot API emulator (telegram-test-api and our harness) as a process, and a user talking to it."""

from __future__ import annotations

import json
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.telegram.shown import shown_text

EMULATOR_DIR = Path(__file__).resolve().parent / "emulator"
INSTALL_TIMEOUT = 600
START_TIMEOUT = 30
REPLY_TIMEOUT = 30
DATE = 1_796_000_000


def free_port() -> int:
    """A port nobody listens on right now, on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install() -> None:
    """`npm ci` from the committed lock file, once per checkout (node_modules is not committed)."""
    if (EMULATOR_DIR / "node_modules" / "telegram-test-api").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed to install the Bot API emulator"
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(command, cwd=EMULATOR_DIR, check=True, timeout=INSTALL_TIMEOUT, capture_output=True)


def stop(process: subprocess.Popen, timeout: float = 20) -> int:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=timeout)


def wait_ready(process: subprocess.Popen, timeout: float) -> str:
    """The emulator's URL from its ready line, waiting at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], left)
        line = process.stdout.readline() if ready else ""
        if line.startswith("{"):
            return json.loads(line)["url"]
    raise AssertionError("the Bot API emulator did not start")


@dataclass
class Emulator:
    url: str
    http: httpx.Client

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[Emulator]:
        node = shutil.which("node")
        if node is None:
            pytest.skip("Node.js is needed to run the Bot API emulator")
        install()
        command = [node, "harness.js", "--host", "127.0.0.1", "--port", str(free_port())]
        process = subprocess.Popen(command, cwd=EMULATOR_DIR, stdout=subprocess.PIPE, text=True)
        try:
            url = wait_ready(process, START_TIMEOUT)
            with httpx.Client(base_url=url, trust_env=False, timeout=REPLY_TIMEOUT + 10) as http:
                yield cls(url, http)
        finally:
            stop(process)

    @property
    def api_url(self) -> str:
        """What python-telegram-bot takes as base_url."""
        return f"{self.url}/bot"

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body)
        response.raise_for_status()
        return response.json()["result"]

    def user(self, token: str, user_id: int) -> EmulatedUser:
        return EmulatedUser(self, token, user_id)


@dataclass
class EmulatedUser:
    """A private chat with the bot behind `token`, as the user sees it."""

    emulator: Emulator
    token: str
    user_id: int
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def me(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": "Sam"}

    def say(self, text: str) -> None:
        """Type a text or a command."""
        chat = {"id": self.user_id, "type": "private", "first_name": "Sam"}
        message = {"botToken": self.token, "from": self.me, "chat": chat, "date": DATE, "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self.emulator.post("/sendCommand", message)
        else:
            self.emulator.post("/sendMessage", message)

    def press(self, value: str) -> None:
        """Tap the button carrying `value` on the newest message that has it."""
        message = next(m for m in reversed(self.seen) if value in values(m))
        query = {"botToken": self.token, "from": self.me, "message": message, "data": value}
        self.emulator.post("/sendCallback", query)

    def replies(self, count: int) -> list[dict[str, Any]]:
        """The next `count` messages from the bot, waiting for them (bounded)."""
        body = {
            "token": self.token,
            "chatId": self.user_id,
            "count": count,
            "timeoutMs": REPLY_TIMEOUT * 1000,
        }
        received = self.emulator.post("/harness/botMessages", body)
        assert len(received) == count, f"expected {count} replies, got {len(received)}"
        self.seen += received
        return received

    def calls(self) -> list[dict[str, Any]]:
        """Every Bot API call the bot made, in order."""
        return self.emulator.post("/harness/calls", {"token": self.token})

    def wait_call(self, method: str) -> dict[str, Any]:
        """The bot's first call of `method`, waiting for it (bounded)."""
        body = {"token": self.token, "method": method, "timeoutMs": START_TIMEOUT * 1000}
        call = self.emulator.post("/harness/waitCall", body)
        assert call is not None, f"the bot never called {method}"
        return call

    def deliveries(self) -> list[dict[str, Any]]:
        """Webhook deliveries of this user's updates, with the bot's HTTP status."""
        return self.emulator.post("/harness/deliveries", {"token": self.token})

    def stored_messages(self) -> list[dict[str, Any]]:
        """The bot's messages as the emulator keeps them now (keyboards removed after a press)."""
        history = self.emulator.post("/getUpdatesHistory", {"token": self.token})
        return [item for item in history if "chat_id" in item.get("message", {})]


def values(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


def as_seen(message: dict[str, Any]) -> tuple[str, tuple[tuple[tuple[str, str], ...], ...]]:
    """A bot message as plain text and button rows of (label, value)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    buttons = tuple(tuple((b["text"], b["callback_data"]) for b in row) for row in rows)
    return shown_text(message["text"]), buttons
