"""A fake Telegram Bot API over HTTP for the proofs: answers like Telegram, records sends, injects faults.

It serves `/bot<token>/<method>` on 127.0.0.1 only, in the proof's own event loop, so a proof can wait
for what a bot sent and count it. Faults are decided per call from a seed and the call itself (method,
chat, text and how many times that same call came before), never from the order calls arrive in, so a
run's faults do not depend on timing:

- `429`: Too Many Requests with `retry_after`;
- `5xx`: 500, 502 or 503 (nothing was delivered);
- `lost`: the request is swallowed: no delivery, and no answer before the client's read timeout;
- `late`: Telegram delivers the message, but its answer comes after the client's read timeout, so the
  bot cannot know it was delivered (to the bot, `lost` and `late` look the same);
- `400`: Bad Request: for a press answer "query is too old", for an edit "message to edit not found";
- `403`: Forbidden, as for a user who blocked the bot; every call to a chat in `blocked` fails so.

Run it alone to poke at it: `python -m tests.proofs.fake_telegram --port 8081`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets

HOST = "127.0.0.1"
BOT_ID = 777000111
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Hip Coach", "username": "HipCoachBot"}
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
CHAT_METHODS = SEND_METHODS | {"editMessageReplyMarkup"}
TRUE_METHODS = frozenset(
    {
        "setWebhook",
        "deleteWebhook",
        "setMyCommands",
        "answerCallbackQuery",
        "editMessageReplyMarkup",
        "sendChatAction",
    }
)
FAULT_KINDS = ("429", "5xx", "lost", "late")
PRESS_FAULT_KINDS = ("400", "403", *FAULT_KINDS)  # what a press answer or a keyboard edit can meet
BAD_REQUEST = {
    "answerCallbackQuery": (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    ),
    "editMessageReplyMarkup": "Bad Request: message to edit not found",
}
CLIENT_READ_TIMEOUT = 5.0  # python-telegram-bot's default read timeout


@dataclass(frozen=True)
class Faults:
    """Which calls fail, and how: a share `rate` of the calls of `methods`, and every call to `blocked`."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    methods: frozenset[str] = SEND_METHODS | {"answerCallbackQuery", "editMessageReplyMarkup"}
    blocked: frozenset[int] = frozenset()
    retry_after: int = 1
    delay: float = CLIENT_READ_TIMEOUT + 1.0  # how late `lost` and `late` calls answer

    def decide(self, method: str, chat_id: int | None, key: str, attempt: int) -> str:
        """'ok' or a fault kind, the same for the same call whenever and wherever it is made."""
        if chat_id in self.blocked and method in CHAT_METHODS:
            return "403"
        if method not in self.methods or self.rate <= 0:
            return "ok"
        draw = random.Random(f"{self.seed}|{method}|{chat_id}|{key}|{attempt}")
        if draw.random() >= self.rate:
            return "ok"
        return draw.choice(self.kinds)


@dataclass(frozen=True)
class Call:
    """One request as it arrived, and what the fake did with it."""

    method: str
    chat_id: int | None
    outcome: str  # "ok", or a fault kind
    at: float  # time.time() on arrival
    text: str = ""  # a message's text or a file's caption


@dataclass(frozen=True)
class Sent:
    """A message Telegram delivered to a chat (including `late` ones, whose answer the bot never saw)."""

    message_id: int
    chat_id: int
    method: str
    text: str
    buttons: tuple[str, ...]  # callback data of the inline keyboard, row by row
    at: float
    late: bool = False


@dataclass
class FakeTelegram:
    """The Bot API's state: calls, deliveries, and who is waiting for a chat's next message."""

    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = time.time
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    by_chat: dict[int, list[Sent]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    webhook: dict[str, Any] = field(default_factory=dict)
    _arrivals: dict[int, asyncio.Event] = field(default_factory=dict)

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """Status, body and how long to wait before answering; records the call and any delivery."""
        chat_id = _chat_id(params.get("chat_id"))
        what = params.get("text", params.get("callback_query_id", params.get("message_id", "")))
        key = hashlib.sha1(str(what).encode()).hexdigest()
        call_key = f"{method}|{chat_id}|{key}"
        attempt = self.attempts[call_key]
        self.attempts[call_key] += 1
        outcome = self.faults.decide(method, chat_id, key, attempt)
        self.calls.append(Call(method, chat_id, outcome, self.clock(), str(params.get("text", ""))))
        if outcome == "403":
            return 403, _error(403, "Forbidden: bot was blocked by the user"), 0.0
        if outcome == "400":
            return 400, _error(400, BAD_REQUEST.get(method, "Bad Request: message is not modified")), 0.0
        if outcome == "429":
            retry = self.faults.retry_after
            body = _error(429, f"Too Many Requests: retry after {retry}")
            return 429, {**body, "parameters": {"retry_after": retry}}, 0.0
        if outcome == "5xx":
            status = random.Random(f"{self.faults.seed}|{call_key}|{attempt}|status").choice((500, 502, 503))
            return status, _error(status, "Internal Server Error"), 0.0
        if outcome == "lost":
            return 504, _error(504, "Gateway Timeout"), self.faults.delay
        result = self._result(method, params, chat_id, late=outcome == "late")
        if result is None:
            return 404, _error(404, "Not Found: method not found"), 0.0
        return 200, {"ok": True, "result": result}, self.faults.delay if outcome == "late" else 0.0

    def _result(self, method: str, params: dict[str, Any], chat_id: int | None, late: bool) -> Any:
        if method == "getMe":
            return {**BOT_USER, "can_join_groups": False, "can_read_all_group_messages": False}
        if method == "setWebhook":
            self.webhook = dict(params)
        if method in TRUE_METHODS:
            return True
        if method not in SEND_METHODS or chat_id is None:
            return None
        markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
        text = str(params.get("text", params.get("caption", "")))
        sent = Sent(len(self.sent) + 1, chat_id, method, text, _buttons(markup), self.clock(), late)
        self.sent.append(sent)
        self.by_chat.setdefault(chat_id, []).append(sent)
        self._arrival(chat_id).set()
        chat = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        message = {"message_id": sent.message_id, "date": int(sent.at), "chat": chat, "from": BOT_USER}
        if method == "sendMessage":
            message["text"] = text
        if markup:
            message["reply_markup"] = markup
        return message

    def messages(self, chat_id: int) -> list[Sent]:
        """Every message delivered to a chat, in the order Telegram took them."""
        return self.by_chat.get(chat_id, [])

    async def wait_for(self, chat_id: int, ready: Callable[[list[Sent]], bool], timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until `ready` holds for the chat's messages."""
        deadline = time.monotonic() + timeout
        arrival = self._arrival(chat_id)
        while not ready(self.messages(chat_id)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrival.wait(), remaining)
        return True

    def _arrival(self, chat_id: int) -> asyncio.Event:
        return self._arrivals.setdefault(chat_id, asyncio.Event())

    def sends_per_second(self) -> Counter[int]:
        """Messages delivered in each whole second (by arrival), for checking the global send rate."""
        return Counter(int(s.at) for s in self.sent)

    def outcomes(self, methods: Iterable[str] | None = None) -> Counter[str]:
        wanted = set(methods) if methods is not None else None
        return Counter(c.outcome for c in self.calls if wanted is None or c.method in wanted)


def _chat_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


def _buttons(markup: dict[str, Any] | None) -> tuple[str, ...]:
    rows = (markup or {}).get("inline_keyboard", [])
    return tuple(str(button.get("callback_data", "")) for row in rows for button in row)


class MethodHandler(tornado.web.RequestHandler):
    """`/bot<token>/<method>`: form-encoded, multipart or JSON parameters, as python-telegram-bot sends."""

    SUPPORTED_METHODS = ("GET", "POST")

    def initialize(self, api: FakeTelegram) -> None:
        self.api = api

    async def get(self, token: str, method: str) -> None:
        await self._answer(method)

    async def post(self, token: str, method: str) -> None:
        await self._answer(method)

    async def _answer(self, method: str) -> None:
        status, body, delay = self.api.answer(method, self._params())
        if delay:
            await asyncio.sleep(delay)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(StreamClosedError):  # the client gave up waiting: Telegram carries on
            await self.finish(json.dumps(body))

    def _params(self) -> dict[str, Any]:
        if self.request.headers.get("Content-Type", "").startswith("application/json") and self.request.body:
            return dict(json.loads(self.request.body))
        params: dict[str, Any] = {
            name: values[-1].decode() for name, values in self.request.query_arguments.items()
        }
        params.update({name: values[-1].decode() for name, values in self.request.body_arguments.items()})
        for name, files in self.request.files.items():
            params[name] = files[-1].filename
        return params

    def log_exception(self, *args: Any) -> None:  # a closed connection is expected with `lost`/`late`
        pass


@contextlib.asynccontextmanager
async def serving(api: FakeTelegram, port: int = 0):
    """Serve `api` on 127.0.0.1 (a free port unless given); yields the base_url for python-telegram-bot."""
    sockets = bind_sockets(port, address=HOST)
    app = tornado.web.Application([(r"/bot([^/]+)/(\w+)", MethodHandler, {"api": api})], log_function=_quiet)
    server = HTTPServer(app, idle_connection_timeout=30)
    server.add_sockets(sockets)
    try:
        yield f"http://{HOST}:{sockets[0].getsockname()[1]}/bot"
    finally:
        server.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), 5)


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """No access log: a proof makes tens of thousands of calls."""


async def _serve_forever(port: int, faults: Faults) -> None:
    api = FakeTelegram(faults)
    async with serving(api, port) as url:
        print(f"fake Telegram Bot API at {url} (TELEGRAM_API_URL); Ctrl-C stops it", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port, Faults(rate=args.fault_rate, seed=args.seed)))


if __name__ == "__main__":
    main()
