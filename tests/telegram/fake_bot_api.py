"""A Bot API that never touches the network: answers like Telegram, records and checks every call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from tests.telegram.bot_api_spec import BotApiSpec
from tests.telegram.shown import shown_text

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Hip Coach", "username": "HipCoachBot"}
DATE = 1_796_000_000
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
EDITS = ("editMessageText", "editMessageReplyMarkup")


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded (multipart), as the fake Bot API received it."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeBotApi:
    """Telegram's side of the conversation, with failures a test can script."""

    spec: BotApiSpec
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    blocked_chats: set[int] = field(default_factory=set)
    # (method, HTTP status, or 0 for a read timeout, -1 for no connection, 200 to answer as usual; body)
    failures: list[tuple[str, int, dict[str, Any] | None]] = field(default_factory=list)
    delivered: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # Every message the bot sent as the chat shows it now, edits applied: (chat id, message id) -> fields
    shown: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def rate_limit_next(self, method: str, seconds: int) -> None:
        """The next call of `method` is refused with 429 and retry_after."""
        body = {
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        }
        self.failures.append((method, 429, body))

    def fail_next(self, method: str, status: int, description: str) -> None:
        """The next call of `method` fails with this HTTP status and description."""
        self.failures.append((method, status, {"description": description}))

    def time_out_next(self, method: str, times: int = 1, delivered: bool = False) -> None:
        """The next `times` calls of `method` get no answer in time (a read timeout, as httpx raises it).

        With `delivered`, Telegram acted on each of them all the same: the answer was what got lost.
        """
        self.failures += [(method, 0, {"delivered": delivered})] * times

    def answer_next(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` are answered as usual (to script a failure after them)."""
        self.failures += [(method, 200, None)] * times

    def refuse_connection_next(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` cannot connect: nothing reaches Telegram."""
        self.failures += [(method, -1, None)] * times

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Record and check the call, then answer it as Telegram would (or as scripted)."""
        self.calls.append(Call(method, params))
        self.violations += self.spec.check_call(method, params)
        for index, (failing, status, body) in enumerate(self.failures):
            if failing == method:
                del self.failures[index]
                if status == 200:
                    break
                if status == -1:
                    raise NetworkError("httpx.ConnectError") from httpx.ConnectError("refused")
                if status == 0:
                    if body and body["delivered"]:
                        self._result(method, params)
                    raise TimedOut() from httpx.ReadTimeout("no answer")
                return status, {"ok": False, "error_code": status, **(body or {})}
        if method == "sendMessage" and params.get("chat_id") in self.blocked_chats:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        if method in EDITS:
            return self._edit(method, params)
        return 200, {"ok": True, "result": self._result(method, params)}

    def _edit(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An edit as Telegram answers it: refused for a message it cannot find or that would not change."""
        key = (params["chat_id"], params["message_id"])
        if key not in self.shown:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to edit not found",
            }
        before = self.shown[key]
        after = {k: v for k, v in before.items() if k != "reply_markup"}
        after.update({k: params[k] for k in ("text", "reply_markup") if k in params})
        if after == before:
            return 400, {"ok": False, "error_code": 400, "description": NOT_MODIFIED}
        self.shown[key] = after
        chat = {"id": key[0], "type": "private"}
        return 200, {"ok": True, "result": {"message_id": key[1], "date": DATE, "chat": chat, **after}}

    def live_keyboards(self, chat_id: int) -> list[int]:
        """Ids of the chat's messages whose buttons can still be pressed."""
        return [
            message_id
            for (chat, message_id), shown in self.shown.items()
            if chat == chat_id and shown.get("reply_markup")
        ]

    def text_of(self, chat_id: int, message_id: int) -> str:
        """A message's text (or caption) as the chat shows it now, HTML undone."""
        shown = self.shown[(chat_id, message_id)]
        return shown_text(shown.get("text") or shown.get("caption") or "")

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {**BOT_USER, "can_join_groups": False, "can_read_all_group_messages": False}
        if method.startswith("send") and "chat_id" in params and method != "sendChatAction":
            kept = {k: params[k] for k in ("text", "caption", "reply_markup") if k in params}
            self.shown[
                (
                    params["chat_id"],
                    100 + len(self.delivered) if method == "sendMessage" else 900 + len(self.calls),
                )
            ] = kept
        if method == "sendMessage":
            message_id = 100 + len(self.delivered)
            self.delivered.append((message_id, params))
            chat_id = params["chat_id"]
            chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "Group"}
            sent = {"message_id": message_id, "date": DATE, "chat": chat, "from": BOT_USER}
            return {**sent, "text": params["text"], **_markup(params)}
        if method in ("sendPhoto", "sendDocument"):
            chat = {"id": params["chat_id"], "type": "private"}
            return {"message_id": 900 + len(self.calls), "date": DATE, "chat": chat, "from": BOT_USER}
        if method == "sendAnimation":
            chat = {"id": params["chat_id"], "type": "private"}
            sent = {"message_id": 900 + len(self.calls), "date": DATE, "chat": chat, "from": BOT_USER}
            return {**sent, "animation": _animation(params["animation"])}
        return True

    def of(self, method: str) -> list[Call]:
        """Every call of `method`, in order."""
        return [call for call in self.calls if call.method == method]


def _animation(sent: Any) -> dict[str, Any]:
    """Telegram's Animation for an upload (a new file id) or for a file id sent again."""
    file_id = sent if isinstance(sent, str) else f"anim-{len(sent.data)}-{sent.filename}"
    return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 240, "height": 230, "duration": 6}


def _markup(params: dict[str, Any]) -> dict[str, Any]:
    return {"reply_markup": params["reply_markup"]} if "reply_markup" in params else {}


class OfflineRequest(BaseRequest):
    """PTB's request port, wired to a FakeBotApi: any URL but the configured Bot API one is refused."""

    def __init__(self, api: FakeBotApi, base_url: str) -> None:
        self.api = api
        self.base_url = base_url

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open: there is no connection."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if not url.startswith(self.base_url):
            raise ConnectionRefusedError("offline: only the fake Bot API answers")
        params = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            for name, (filename, data, *_rest) in request_data.multipart_data.items():
                params[name] = Upload(filename, data)
        status, body = self.api.answer(url.rsplit("/", 1)[-1], params)
        return status, json.dumps(body).encode()
