"""Pictures, documents and coach notes over the Bot API, each call checked against the reference."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.telegram.conftest import OfflineBot, offline
from tests.telegram.fake_bot_api import Upload
from tests.telegram.offline_chat import USER_ID
from tests.telegram.script import onboarding

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

COACH_CHAT = -100555


async def onboarded(offline_bot):
    await offline_bot.chat.play(onboarding())
    return offline_bot


async def test_progress_sends_the_chart_as_one_photo_captioned_with_its_summary(offline_bot):
    bot = await onboarded(offline_bot)
    sent = len(bot.api.of("sendMessage"))
    await bot.chat.send("/progress")
    (photo,) = bot.api.of("sendPhoto")
    assert photo.params["chat_id"] == USER_ID
    upload = photo.params["photo"]
    assert isinstance(upload, Upload) and upload.data.startswith(b"\x89PNG")
    assert photo.params["caption"].startswith("Your progress so far") and photo.params["parse_mode"] == "HTML"
    assert len(bot.api.of("sendMessage")) == sent + 1  # only the question asked again, after the chart


async def test_export_sends_everything_stored_as_documents(offline_bot):
    bot = await onboarded(offline_bot)
    await bot.chat.send("/export")
    documents = [call.params["document"] for call in bot.api.of("sendDocument")]
    assert [d.filename for d in documents] == [
        f"hipcoach-{USER_ID}.json",
        f"hipcoach-{USER_ID}-check-ins.csv",
    ]
    exported = json.loads(documents[0].data)
    assert exported["tables"]["users"][0]["id"] == USER_ID


async def test_delete_then_leaves_nothing_and_a_way_back(offline_bot):
    bot = await onboarded(offline_bot)
    await bot.chat.send("/delete")
    await bot.chat.press("delete:yes")
    assert all(rows == [] for rows in (await bot.reports.rows_about(USER_ID)).values())
    assert "/start" in bot.chat.seen[-1].text


@pytest.fixture
async def with_coach_chat(offline_settings, bot_api_spec) -> AsyncIterator[OfflineBot]:
    """The offline bot, built with HIPCOACH_COACH_CHAT_ID set."""
    async with offline(
        offline_settings.model_copy(update={"coach_chat_id": COACH_CHAT}), bot_api_spec
    ) as bot:
        yield bot


async def test_the_coach_chat_gets_a_summary_with_the_username_only_when_the_user_agrees(with_coach_chat):
    bot = await onboarded(with_coach_chat)
    bot.chat.user["username"] = "sam_moves"

    await bot.chat.send("/coach")
    await bot.chat.press("coach:no")
    assert [c for c in bot.api.of("sendMessage") if c.params["chat_id"] == COACH_CHAT] == []

    await bot.chat.send("/coach")
    await bot.chat.press("coach:handle")
    (note,) = [c for c in bot.api.of("sendMessage") if c.params["chat_id"] == COACH_CHAT]
    assert "@sam_moves" in note.params["text"]


async def test_stats_are_refused_to_anyone_not_listed_as_an_admin(offline_bot):
    bot = await onboarded(offline_bot)
    await bot.chat.send("/stats")
    assert "only for the people who run this bot" in bot.chat.seen[-2].text


async def test_a_due_session_prompt_reaches_the_user_through_telegram(offline_bot):
    from datetime import timedelta

    bot = await onboarded(offline_bot)
    checkin = ("checkin_pain:1", "checkin_effort:ok", "checkin_control:smooth", "checkin_parts:fine")
    for value in ("session:done", *checkin):
        await bot.chat.press(value)
    for value in (
        "schedule_days:weekdays",
        "schedule_time:1800",
        "schedule_zone:utc",
        "schedule_summary_day:6",
    ):
        await bot.chat.press(value)
    await bot.chat.press("schedule_confirm:yes")
    bot.clock.advance(timedelta(hours=11))  # 19:00 UTC: the 18:00 session is due
    assert await bot.built.dispatcher.run_due() == 1
    last = bot.api.of("sendMessage")[-1].params
    assert last["text"].startswith("Time for your session")
    assert last["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "session_offer:start"
