"""No head-of-line blocking: a slow chat (a hanging request, a 429 wait, a group flood) never delays
another user's turn, and one user's updates are still handled one after another, in order.

Updates go through the application's update queue and its update processor, as polling hands them
over. Nothing waits on time: Telegram's answers and the sender's waits are held on events the test
lets go, and each check waits for the event it expects (with a generous guard against hanging).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application

from hipcoach.bot.bootstrap import build_telegram
from hipcoach.bot.telegram.sender import TelegramSender
from hipcoach.flows import Message
from tests.fakes import FakeClock
from tests.telegram.conftest import BASE_URL, NOW
from tests.telegram.fake_bot_api import BOT_USER, DATE, FakeBotApi, OfflineRequest

SLOW, OTHER = 1001, 2002  # two users' private chats
GROUP = -100_777
GUARD = 10.0  # seconds: only a hang ever reaches it
# Group commands in a flood: more than one at a time, and no more than PTB's group limiter lets go at
# once (20 a minute), so that letting the held answers go does not really wait for the next minute.
FLOOD = 20

Key = tuple[str, Any]  # (Bot API method, chat id or callback query id)


def key_of(method: str, params: dict[str, Any]) -> Key:
    return method, params.get("chat_id", params.get("callback_query_id"))


@dataclass
class HeldTelegram(OfflineRequest):
    """The fake Bot API, with the calls a test holds until it lets them go, and a 429 it scripts per chat."""

    held: dict[Key, asyncio.Event] = field(default_factory=dict)
    came: dict[Key, asyncio.Event] = field(default_factory=dict)
    rate_limited: dict[Key, int] = field(default_factory=dict)  # the first such call: 429, retry_after
    arrived: list[Key] = field(default_factory=list)  # every call as it came, held ones too

    def __init__(self, api: FakeBotApi) -> None:
        super().__init__(api, BASE_URL)
        self.held, self.came, self.rate_limited, self.arrived = {}, {}, {}, []

    def hold(self, method: str, chat: Any) -> asyncio.Event:
        """Calls of `method` for `chat` get no answer until the returned event is set."""
        return self.held.setdefault((method, chat), asyncio.Event())

    async def called(self, method: str, chat: Any) -> None:
        """Return once `method` was called for `chat` (held or not)."""
        await asyncio.wait_for(self.came.setdefault((method, chat), asyncio.Event()).wait(), GUARD)

    async def do_request(self, url: str, method: str, request_data: Any = None, *args: Any, **kw: Any):
        params = dict(request_data.parameters) if request_data else {}
        key = key_of(url.rsplit("/", 1)[-1], params)
        self.arrived.append(key)
        self.came.setdefault(key, asyncio.Event()).set()
        if key in self.rate_limited:
            seconds = self.rate_limited.pop(key)
            self.api.rate_limit_next(key[0], seconds)
        if key in self.held:
            await self.held[key].wait()
        return await super().do_request(url, method, request_data, *args, **kw)

    def sent_to(self, chat: int) -> list[str]:
        """Texts Telegram took for `chat` so far, in order (a refused try is not among them)."""
        return [params["text"] for _, params in self.api.delivered if params["chat_id"] == chat]


@dataclass
class HeldSleep:
    """The sender's sleep: notes each wait and returns only once the test lets waits go."""

    waits: list[float] = field(default_factory=list)
    over: asyncio.Event = field(default_factory=asyncio.Event)
    began: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.began.set()
        await self.over.wait()


@dataclass
class Running:
    application: Application
    telegram: HeldTelegram
    sleep: HeldSleep
    sender: TelegramSender
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(5000))

    async def post(self, payload: dict[str, Any]) -> int:
        """Telegram hands the bot an update, as polling puts it on the update queue; its update id."""
        data = {"update_id": next(self.update_ids), **payload}
        await self.application.update_queue.put(Update.de_json(data, self.application.bot))
        return data["update_id"]

    async def write(self, user: int, text: str, chat: dict[str, Any] | None = None) -> int:
        sender = {"id": user, "is_bot": False, "first_name": f"U{user}"}
        where = chat or {"id": user, "type": "private", "first_name": f"U{user}"}
        message = {"message_id": next(self.update_ids), "date": DATE, "chat": where, "from": sender}
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.post(
            {"message": {**message, "text": text, **({"entities": entities} if text[0] == "/" else {})}}
        )

    async def press(self, user: int, data: str) -> None:
        sender = {"id": user, "is_bot": False, "first_name": f"U{user}"}
        chat = {"id": user, "type": "private", "first_name": f"U{user}"}
        message = {"message_id": 1, "date": DATE, "chat": chat, "from": BOT_USER, "text": "?"}
        query = {"id": f"q{user}", "from": sender, "chat_instance": "1", "message": message, "data": data}
        await self.post({"callback_query": query})


@pytest.fixture
async def running(offline_settings, bot_api_spec) -> AsyncIterator[Running]:
    """The bot as bootstrap builds it, started: updates are taken from its queue as polling feeds it."""
    telegram, sleep = HeldTelegram(FakeBotApi(bot_api_spec)), HeldSleep()
    built = await build_telegram(
        offline_settings, clock=FakeClock(NOW), request=telegram, updates_request=telegram, sleep=sleep
    )
    try:
        async with built.application as application:
            await application.start()
            try:
                yield Running(application, telegram, sleep, built.sender)
            finally:
                for held in telegram.held.values():
                    held.set()  # whatever a test still holds is let go, so every update finishes
                sleep.over.set()
                await application.stop()
    finally:
        await built.database.close()


async def test_while_one_users_press_goes_unanswered_another_users_help_is_answered(running):
    running.telegram.hold("answerCallbackQuery", f"q{SLOW}")
    await running.press(SLOW, "no_such_button")
    await running.telegram.called("answerCallbackQuery", f"q{SLOW}")
    await running.write(OTHER, "/help")
    await running.telegram.called("sendMessage", OTHER)  # before the slow press is ever answered


async def test_while_a_send_to_one_user_hangs_another_users_help_is_answered(running):
    running.telegram.hold("sendMessage", SLOW)
    await running.write(SLOW, "/help")
    await running.telegram.called("sendMessage", SLOW)
    await running.write(OTHER, "/help")
    await running.telegram.called("sendMessage", OTHER)
    assert running.telegram.sent_to(SLOW) == []  # still held


async def test_a_429_with_retry_after_10_on_one_chat_does_not_delay_another_chat(running):
    running.telegram.rate_limited[("sendMessage", SLOW)] = 10
    await running.write(SLOW, "/help")
    await asyncio.wait_for(running.sleep.began.wait(), GUARD)  # the slow chat waits out its 10 s
    await running.write(OTHER, "/help")
    await running.telegram.called("sendMessage", OTHER)
    assert running.sleep.waits == [10]
    assert running.telegram.sent_to(OTHER) and running.telegram.sent_to(SLOW) == []
    running.sleep.over.set()
    await running.application.update_queue.join()
    assert running.telegram.sent_to(SLOW), "sent once the wait is over"


async def test_a_flood_of_group_commands_does_not_delay_a_private_chat(running):
    running.telegram.hold("sendMessage", GROUP)  # the group's 20 a minute is spent: its answers wait
    group = {"id": GROUP, "type": "group", "title": "Back club"}
    for member in range(FLOOD):
        await running.write(3000 + member, "/start", chat=group)
    await running.telegram.called("sendMessage", GROUP)
    await running.write(OTHER, "/help")
    await running.telegram.called("sendMessage", OTHER)
    assert running.telegram.arrived.count(("sendMessage", GROUP)) == 1, "one group answer in hand at a time"
    running.telegram.held[("sendMessage", GROUP)].set()
    await running.application.update_queue.join()
    assert len(running.telegram.sent_to(GROUP)) == FLOOD
    assert len(running.application.update_processor.order) == 0, "no chat's place in line is kept after"


async def test_two_quick_updates_of_one_user_are_handled_one_after_another_in_order(running, caplog):
    caplog.set_level(logging.INFO, logger="hipcoach.bot.coach")
    running.telegram.hold("sendMessage", SLOW)
    first = await running.write(SLOW, "/help")
    second = await running.write(SLOW, "/today")
    await running.telegram.called("sendMessage", SLOW)
    await running.write(OTHER, "/help")  # the loop goes on: the user's second update could have run
    await running.telegram.called("sendMessage", OTHER)
    assert turns_of(SLOW, caplog) == [f"update:{first}"], "the second waits for the first's delivery"
    running.telegram.held[("sendMessage", SLOW)].set()
    await running.application.update_queue.join()
    assert turns_of(SLOW, caplog) == [f"update:{first}", f"update:{second}"]


async def test_a_second_send_to_a_chat_paused_by_a_429_waits_while_other_chats_are_sent_to(running):
    running.telegram.rate_limited[("sendMessage", SLOW)] = 10
    first = asyncio.create_task(running.sender.send_to_chat(SLOW, [Message("first")]))
    await asyncio.wait_for(running.sleep.began.wait(), GUARD)
    second = asyncio.create_task(running.sender.send_to_chat(SLOW, [Message("second")]))
    await running.sender.send_to_chat(OTHER, [Message("meanwhile")])
    assert running.telegram.sent_to(OTHER) == ["meanwhile"]
    assert [call.params["chat_id"] for call in running.telegram.api.of("sendMessage")] == [SLOW, OTHER]
    running.sleep.over.set()
    await asyncio.wait_for(asyncio.gather(first, second), GUARD)
    assert running.telegram.sent_to(SLOW) == ["first", "second"]
    assert running.sleep.waits == [10], "the second send waited with the first, not on a 429 of its own"


def turns_of(user: int, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The refs of the user's committed turns, in the order they were taken."""
    prefix = f"turn user={user} ref="
    return [
        r.getMessage().removeprefix(prefix).split()[0]
        for r in caplog.records
        if r.getMessage().startswith(prefix)
    ]
