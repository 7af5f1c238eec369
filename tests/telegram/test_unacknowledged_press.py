"""A press whose answer or edit fails is still taken: the turn stays committed and its replies go out."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select

from hipcoach.bot.storage.models import Outbox, User
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.offline_chat import USER_ID

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
Fault = Callable[[FakeBotApi, str], None]
FAULTS: dict[str, Fault] = {
    "400 query too old": lambda api, method: api.fail_next(method, 400, TOO_OLD),
    "403 blocked": lambda api, method: api.fail_next(method, 403, "Forbidden: bot was blocked by the user"),
    "429 retry after 10": lambda api, method: api.rate_limit_next(method, 10),
    "500": lambda api, method: api.fail_next(method, 500, "Internal Server Error"),
    "502": lambda api, method: api.fail_next(method, 502, "Bad Gateway"),
    "read timeout": lambda api, method: api.time_out_next(method),
    "no connection": lambda api, method: api.refuse_connection_next(method),
}


def skipped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if " skipped error=" in r.getMessage()]


async def outbox_statuses(offline_bot) -> list[str]:
    async with offline_bot.storage.sessions() as session:
        return list((await session.scalars(select(Outbox.status).order_by(Outbox.id))).all())


async def still_active(offline_bot) -> bool:
    async with offline_bot.storage.sessions() as session:
        return bool(await session.scalar(select(User.active).where(User.id == USER_ID)))


@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageText"])
@pytest.mark.parametrize("fault", FAULTS)
async def test_a_press_whose_answer_or_edit_fails_moves_the_state_and_gets_its_reply(
    offline_bot, caplog, method, fault
):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    FAULTS[fault](api, method)
    caplog.set_level(logging.INFO)
    replies = await chat.press("consent:yes")
    assert (await offline_bot.storage.load_state(USER_ID)).name == "red_flags_urgent"
    assert [reply.values() for reply in replies] == [["red_flags_urgent:yes", "red_flags_urgent:no"]]
    assert await outbox_statuses(offline_bot) == ["sent", "sent"]
    assert len(skipped_lines(caplog)) == 1 and offline_bot.sleeps.waits == []
    assert await still_active(offline_bot)  # a refused answer is no sign of a blocked bot


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_press_on_an_old_keyboard_whose_removal_fails_still_gets_its_reply(
    offline_bot, caplog, fault
):
    chat, api = offline_bot.chat, offline_bot.api
    first = await chat.send("/start")
    await chat.press("consent:yes")
    FAULTS[fault](api, "editMessageReplyMarkup")
    caplog.set_level(logging.INFO)
    replies = await chat.press("consent:yes", on=first[-1])  # pressed again on the first question
    assert replies[-1].values() == ["red_flags_urgent:yes", "red_flags_urgent:no"]
    assert (await offline_bot.storage.load_state(USER_ID)).name == "red_flags_urgent"
    assert await outbox_statuses(offline_bot) == ["sent", "sent", "sent"]
    assert len(skipped_lines(caplog)) == 1
