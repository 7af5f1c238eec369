"""A user talking to the bot through Application.process_update, against a FakeBotApi."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application

from tests.telegram.fake_bot_api import BOT_USER, DATE, FakeBotApi
from tests.telegram.script import Step
from tests.telegram.shown import shown_text

USER_ID = 4242
Chat = dict[str, Any]


@dataclass(frozen=True)
class Seen:
    """A message as the user sees it: plain text (HTML undone) and button rows of (label, value)."""

    message_id: int
    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...]

    @classmethod
    def from_params(cls, message_id: int, params: dict[str, Any]) -> Seen:
        rows = params.get("reply_markup", {}).get("inline_keyboard", [])
        buttons = tuple(tuple((b["text"], b["callback_data"]) for b in row) for row in rows)
        return cls(message_id, shown_text(params["text"]), buttons)

    @property
    def shown(self) -> tuple[str, tuple[tuple[tuple[str, str], ...], ...]]:
        """Text and buttons, as the terminal chat shows them."""
        return self.text, self.buttons

    def values(self) -> list[str]:
        return [value for row in self.buttons for _, value in row]


class OfflineChat:
    """One Telegram user (and the groups they sit in), driving the application update by update."""

    def __init__(self, application: Application, api: FakeBotApi, user_id: int = USER_ID) -> None:
        self.application = application
        self.api = api
        self.user = {"id": user_id, "is_bot": False, "first_name": "Sam", "language_code": "en"}
        self.update_ids = itertools.count(1000)
        self.seen: list[Seen] = []

    async def send(self, text: str, chat: Chat | None = None) -> list[Seen]:
        """The user types a text or a command."""
        message: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.deliver({"message": self._message(message, chat)})

    async def send_other(self, kind: str, payload: Any, edited: bool = False) -> list[Seen]:
        """The user sends a non-text message (a sticker, a photo, ...), or edits one."""
        return await self.deliver({"edited_message" if edited else "message": self._message({kind: payload})})

    async def press(self, value: str, on: Seen | None = None, chat: Chat | None = None) -> list[Seen]:
        """The user taps the button carrying `value`, on the newest message that has it (or on `on`)."""
        pressed = on or next(m for m in reversed(self.seen) if value in m.values())
        rows = [[{"text": label, "callback_data": data} for label, data in row] for row in pressed.buttons]
        message = {
            "message_id": pressed.message_id,
            "date": DATE,
            "chat": chat or self.private_chat,
            "from": BOT_USER,
            "text": pressed.text,
            "reply_markup": {"inline_keyboard": rows},
        }
        query = {"id": f"q{pressed.message_id}", "from": self.user, "chat_instance": "42", "message": message}
        return await self.deliver({"callback_query": {**query, "data": value}})

    async def play(self, steps: Iterable[Step]) -> list[list[Seen]]:
        """Each step of a script, with what the bot answered to it."""
        turns = []
        for step in steps:
            turns.append(await (self.press(step.value) if step.kind == "press" else self.send(step.value)))
        return turns

    async def deliver(self, payload: dict[str, Any]) -> list[Seen]:
        """Process one update; what the bot sent in reply, in order, with a message it edited into a new
        question in place (a multi-select toggled) counted among them."""
        first, calls = len(self.api.delivered), len(self.api.calls)
        data = {"update_id": next(self.update_ids), **payload}
        await self.application.process_update(Update.de_json(data, self.application.bot))
        replaced = [
            Seen.from_params(call.params["message_id"], call.params)
            for call in self.api.calls[calls:]
            if call.method == "editMessageText" and "reply_markup" in call.params
        ]
        replies = replaced + [Seen.from_params(*sent) for sent in self.api.delivered[first:]]
        self.seen += replies
        return replies

    @property
    def private_chat(self) -> Chat:
        return {"id": self.user["id"], "type": "private", "first_name": "Sam"}

    def _message(self, content: dict[str, Any], chat: Chat | None = None) -> dict[str, Any]:
        message_id = 500 + len(self.api.calls)
        base = {"message_id": message_id, "date": DATE, "chat": chat or self.private_chat, "from": self.user}
        return {**base, **content}


def texts(messages: list[Seen]) -> str:
    return "\n".join(message.text for message in messages)
