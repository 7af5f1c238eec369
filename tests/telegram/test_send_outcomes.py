"""A message is sent again only when Telegram surely did not get it; over real HTTP with a faulty Bot API."""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha1

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from hipcoach.bot.telegram.sender import RetryPolicy, TelegramSender, never_arrived
from hipcoach.flows import Message
from tests.proofs.fake_telegram import FakeTelegram, Faults, serving
from tests.proofs.harness import free_port

TOKEN = "123456:send-outcomes"
READ_TIMEOUT = 0.3  # the fake answers `late` and `lost` calls after READ_TIMEOUT + 0.2 s


def caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "surely_not_arrived"),
    [
        (caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")), True),
        (caused(TimedOut(), httpx.ConnectTimeout("slow to connect")), True),
        (caused(TimedOut("Pool timeout"), httpx.PoolTimeout("all connections busy")), True),
        (NetworkError("Bad Gateway (502)"), True),  # Telegram answered with an error
        (caused(TimedOut(), httpx.ReadTimeout("no answer")), False),
        (caused(TimedOut(), httpx.WriteTimeout("half written")), False),
        (caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("dropped")), False),
        (TimedOut(), False),  # a request layer that cannot say which
    ],
)
def test_only_failures_before_the_request_reached_telegram_count_as_never_arrived(error, surely_not_arrived):
    assert never_arrived(error) is surely_not_arrived


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


class NotedProgress:
    """Progress of one delivery, noting the parts reported unconfirmed."""

    first = 0

    def __init__(self) -> None:
        self.unconfirmed_parts: list[int] = []

    async def sending(self, part: int) -> None:
        pass

    async def unconfirmed(self, part: int) -> None:
        self.unconfirmed_parts.append(part)


@dataclass(frozen=True)
class FirstMessageFails(Faults):
    """Only the message "first" meets the fault, every time it is sent."""

    def decide(self, method: str, chat_id: int | None, key: str, attempt: int) -> str:
        return self.kinds[0] if method == "sendMessage" and key == sha1(b"first").hexdigest() else "ok"


async def nobody_blocked(user_id: int) -> None:
    raise AssertionError(f"user {user_id} did not block the bot")


def sender_to(base_url: str, waits: Waits) -> TelegramSender:
    """A sender on python-telegram-bot's own HTTP client (httpx), with a short read timeout."""
    request = HTTPXRequest(read_timeout=READ_TIMEOUT, connect_timeout=1.0)
    bot = Bot(TOKEN, base_url=base_url, request=request)
    return TelegramSender(bot, nobody_blocked, waits, RetryPolicy(network_retries=2))


@pytest.mark.parametrize(("fault", "delivered"), [("late", ["first", "second"]), ("lost", ["second"])])
async def test_a_message_left_without_an_answer_is_never_sent_again_and_the_next_follows(fault, delivered):
    api = FakeTelegram(FirstMessageFails(kinds=(fault,), delay=READ_TIMEOUT + 0.2))
    waits, progress = Waits(), NotedProgress()
    async with serving(api) as url:
        sender = sender_to(url, waits)
        async with sender.bot:
            await sender.send(7, [Message("first"), Message("second")], progress)
    assert [sent.text for sent in api.sent] == delivered
    assert progress.unconfirmed_parts == [0] and waits.seconds == []


async def test_a_message_refused_with_a_server_error_is_sent_again():
    api = FakeTelegram(FirstMessageFails(kinds=("5xx",)))
    waits, progress = Waits(), NotedProgress()
    async with serving(api) as url:
        sender = sender_to(url, waits)
        async with sender.bot:
            with pytest.raises(NetworkError):
                await sender.send(7, [Message("first")], progress)
    assert api.sent == [] and waits.seconds == [1.0, 2.0]  # tried three times, never delivered
    assert progress.unconfirmed_parts == []


async def test_a_message_that_never_connected_is_retried_and_then_given_up():
    waits = Waits()
    sender = sender_to(f"http://127.0.0.1:{free_port()}/bot", waits)  # nobody listens there
    with pytest.raises(NetworkError):
        await sender.send(7, [Message("first")])
    assert waits.seconds == [1.0, 2.0]
