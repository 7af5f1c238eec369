"""Blocking and unblocking the bot in Telegram: missed prompts are skipped, and the schedule comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.telegram.offline_chat import USER_ID
from tests.telegram.script import onboarding

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Hip Coach"}
MEMBER = {"user": BOT_USER, "status": "member"}
KICKED = {"user": BOT_USER, "status": "kicked", "until_date": 0}


async def scheduled(offline_bot) -> None:
    """Onboarded, a first session checked in, weekday sessions at 18:00 UTC (it is Tuesday 08:00)."""
    chat = offline_bot.chat
    await chat.play(onboarding())
    checkin = ("checkin_pain:1", "checkin_effort:ok", "checkin_control:smooth", "checkin_parts:fine")
    for value in ("session:done", *checkin):
        await chat.press(value)
    for value in ("schedule_days:weekdays", "schedule_time:1800", "schedule_zone:utc"):
        await chat.press(value)
    await chat.press("schedule_summary_day:6")
    await chat.press("schedule_confirm:yes")


async def membership(offline_bot, old: dict, new: dict) -> None:
    chat = offline_bot.chat
    change = {"chat": chat.private_chat, "from": chat.user, "date": 1_796_000_000}
    await chat.deliver({"my_chat_member": {**change, "old_chat_member": old, "new_chat_member": new}})


async def test_after_blocking_and_unblocking_the_next_session_prompt_comes_on_schedule(offline_bot):
    await scheduled(offline_bot)
    dispatcher, api = offline_bot.built.dispatcher, offline_bot.api
    await membership(offline_bot, MEMBER, KICKED)
    offline_bot.clock.advance(timedelta(days=3))  # Friday 08:00: Tuesday's to Thursday's sessions missed
    assert await dispatcher.run_due() == 0
    sends = len(api.of("sendMessage"))
    await membership(offline_bot, KICKED, MEMBER)
    assert len(api.of("sendMessage")) == sends  # unblocking says nothing
    users = (await offline_bot.reports.rows_about(USER_ID))["users"]
    assert [user["active"] for user in users] == [True]
    offline_bot.clock.advance(timedelta(hours=10, minutes=1))  # Friday 18:01
    assert await dispatcher.run_due() == 1
    assert api.of("sendMessage")[-1].params["text"].startswith("Time for your session")
