"""Telegram unreachable at start is waited for, one line a try; a token Telegram refuses stops the start."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

import pytest
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TimedOut

from hipcoach.bot.backoff import doubling
from hipcoach.bot.settings import Settings
from hipcoach.bot.telegram.app import serve_telegram
from hipcoach.bot.telegram.startup import FIRST_WAIT, LONGEST_WAIT, until_reached
from tests.telegram.conftest import BASE_URL, TOKEN, Sleeps
from tests.telegram.fake_bot_api import FakeBotApi, OfflineRequest

STOP_TIMEOUT = 20  # seconds a stopping bot may take to exit
SECRET = "startup-test-secret"


def test_the_waits_double_from_one_second_up_to_a_minute_and_stay_there():
    assert list(islice(doubling(FIRST_WAIT, LONGEST_WAIT), 9)) == [1, 2, 4, 8, 16, 32, 60, 60, 60]


async def test_each_failed_try_is_one_warning_line_without_a_traceback_then_the_answer_comes(caplog):
    failures: list[Exception] = [NetworkError("httpx.ConnectError: refused"), TimedOut(), NetworkError("x")]

    async def get_me() -> str:
        if failures:
            raise failures.pop(0)
        return "me"

    sleeps = Sleeps()
    caplog.set_level(logging.INFO)
    assert await until_reached(get_me, sleeps) == "me"
    assert sleeps.waits == [1, 2, 4]
    assert [(record.levelname, record.getMessage(), record.exc_info) for record in caplog.records] == [
        ("WARNING", "telegram unreachable (NetworkError); retrying in 1 s", None),
        ("WARNING", "telegram unreachable (TimedOut); retrying in 2 s", None),
        ("WARNING", "telegram unreachable (NetworkError); retrying in 4 s", None),
    ]


@pytest.mark.parametrize(
    "error",
    [
        InvalidToken("The token was rejected by the server."),
        BadRequest("Bad Request: bad webhook: HTTPS url must be provided for webhook"),  # a NetworkError too
        Forbidden("Forbidden"),
    ],
)
async def test_an_answer_from_telegram_is_raised_at_once_not_waited_out(error):
    async def request() -> None:
        raise error

    sleeps = Sleeps()
    with pytest.raises(type(error)):
        await until_reached(request, sleeps)
    assert sleeps.waits == []


# The whole start of serve_telegram, on the offline Bot API


class NotingRequest(OfflineRequest):
    """The offline Bot API; `serving` is set once the bot receives updates (setWebhook answered, or the
    first getUpdates asked: that long poll never answers, as with nothing to say)."""

    def __init__(self, api: FakeBotApi) -> None:
        super().__init__(api, BASE_URL)
        self.serving = asyncio.Event()

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        name = url.rsplit("/", 1)[-1]
        if name == "getUpdates" and not self.serving.is_set():
            self.serving.set()
            await asyncio.Event().wait()  # the long poll, until stopping cancels it
        if name == "getUpdates":  # polling's last call, as it stops
            return 200, b'{"ok": true, "result": []}'
        answer = await super().do_request(url, method, *args, **kwargs)
        if name == "setWebhook" and answer[0] == 200:
            self.serving.set()
        return answer


@contextmanager
def sigterm_noted() -> Iterator[list[int]]:
    """SIGTERM noted here when nobody else handles it, instead of ending the test run."""
    noted: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGTERM, previous)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_for(database_url: str, webhook: bool) -> Settings:
    port = free_port()
    where = {"webhook_url": f"http://127.0.0.1:{port}/telegram", "webhook_port": port}
    return Settings(
        database_url=database_url,
        telegram_token=TOKEN,
        telegram_api_url=BASE_URL,
        webhook_secret=SECRET,
        upgrade_on_start=False,
        **(where if webhook else {}),
    )


async def serve_until_serving(settings: Settings, request: NotingRequest, sleep: Any) -> int:
    """serve_telegram until it receives updates, then SIGTERM: its exit code."""
    with sigterm_noted() as unhandled:
        serving = asyncio.create_task(
            serve_telegram(settings, request=request, updates_request=request, sleep=sleep)
        )
        await asyncio.wait(
            [serving, asyncio.create_task(request.serving.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        assert request.serving.is_set(), serving.result()
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(serving, STOP_TIMEOUT)
    assert unhandled == []
    return code


def unreachable_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if "unreachable" in record.getMessage()]


async def test_getme_unreachable_at_start_is_waited_out_with_backoff_then_the_bot_serves(
    database_url, bot_api_spec, caplog
):
    api = FakeBotApi(bot_api_spec)
    api.refuse_connection_next("getMe", times=4)
    sleeps = Sleeps()
    caplog.set_level(logging.INFO)
    code = await serve_until_serving(settings_for(database_url, webhook=True), NotingRequest(api), sleeps)
    assert code == 0
    assert sleeps.waits == [1, 2, 4, 8]
    assert unreachable_lines(caplog) == [
        f"telegram unreachable (NetworkError); retrying in {wait} s" for wait in (1, 2, 4, 8)
    ]
    assert [call.method for call in api.calls].count("getMe") == 5
    assert not [record for record in caplog.records if record.exc_info]  # no traceback anywhere
    assert "stopped cleanly" in caplog.messages


@pytest.mark.parametrize(
    "method, webhook, refusals",
    [
        # Through the sender, whose own four retries come first (bot/telegram/sender.py RetryPolicy).
        ("setMyCommands", True, 6),
        ("setWebhook", True, 6),
        ("deleteWebhook", False, 3),  # polling's start
    ],
)
async def test_every_request_before_serving_waits_telegram_out_without_a_traceback(
    method, webhook, refusals, database_url, bot_api_spec, caplog
):
    api = FakeBotApi(bot_api_spec)
    api.refuse_connection_next(method, times=refusals)
    caplog.set_level(logging.INFO)
    code = await serve_until_serving(settings_for(database_url, webhook), NotingRequest(api), Sleeps())
    assert code == 0
    assert unreachable_lines(caplog)  # the start did not give up, nor go on without it
    assert [call.method for call in api.calls].count(method) >= refusals + 1
    assert not [record for record in caplog.records if record.exc_info]


async def test_sigterm_while_waiting_for_telegram_stops_cleanly_and_leaves_nothing_running(
    database_url, bot_api_spec, caplog
):
    api = FakeBotApi(bot_api_spec)
    api.refuse_connection_next("getMe", times=1000)
    waiting = asyncio.Event()
    waits_asked: list[float] = []

    async def long_sleep(seconds: float) -> None:
        waits_asked.append(seconds)
        waiting.set()
        await asyncio.Event().wait()  # a wait the signal must cut short

    request = NotingRequest(api)
    settings = settings_for(database_url, webhook=True)
    before = asyncio.all_tasks()
    caplog.set_level(logging.INFO)
    with sigterm_noted() as unhandled:
        serving = asyncio.create_task(
            serve_telegram(settings, request=request, updates_request=request, sleep=long_sleep)
        )
        await asyncio.wait(
            [serving, asyncio.create_task(waiting.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        assert waiting.is_set(), serving.result()
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(serving, STOP_TIMEOUT)
    assert (code, unhandled, waits_asked) == (0, [], [1])
    assert "stopping: the signal came during startup" in caplog.messages
    assert asyncio.all_tasks() - before == set()


async def test_a_token_telegram_refuses_stops_the_start_at_once_with_one_line_and_exit_2(
    database_url, bot_api_spec, caplog
):
    api = FakeBotApi(bot_api_spec)
    api.fail_next("getMe", 401, "Unauthorized")
    request, sleeps = NotingRequest(api), Sleeps()
    settings = settings_for(database_url, webhook=True)
    caplog.set_level(logging.INFO)
    code = await asyncio.wait_for(
        serve_telegram(settings, request=request, updates_request=request, sleep=sleeps), STOP_TIMEOUT
    )
    assert (code, sleeps.waits) == (2, [])
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [(record.getMessage(), record.exc_info) for record in errors] == [
        ("telegram refused TELEGRAM_BOT_TOKEN (InvalidToken): check it with @BotFather", None)
    ]
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert [call.method for call in api.calls] == ["getMe"]
