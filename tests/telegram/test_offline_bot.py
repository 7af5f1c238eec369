"""The bot end to end through Application.process_update: real coach and SQLite, a fake Telegram."""

from __future__ import annotations

import logging

import pytest

from hipcoach.bot.telegram.app import COMMANDS
from tests.telegram.fake_bot_api import FakeBotApi, OfflineRequest
from tests.telegram.offline_chat import USER_ID, Seen, texts
from tests.telegram.script import onboarding

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own

GROUP = {"id": -1001234, "type": "supergroup", "title": "Back pain club"}


BOOKKEEPING = ("outbox", "processed_updates")  # every answered update adds to these by design


async def rows(bot) -> dict:
    """What is stored about the user's coaching, without the delivery bookkeeping (nor which of the
    chat's messages have live keyboards)."""
    stored = await bot.reports.rows_about(USER_ID)
    stored["users"] = [{k: v for k, v in user.items() if k != "live_keyboards"} for user in stored["users"]]
    return {table: found for table, found in stored.items() if table not in BOOKKEEPING}


async def test_a_new_user_finishes_onboarding_by_pressing_buttons(offline_bot):
    turns = await offline_bot.chat.play(onboarding())
    assert "Hip Coach" in texts(turns[0])
    assert turns[-1][-1].buttons  # the first exercise, waiting to be done
    assert [row["exercise"] for row in (await rows(offline_bot))["rung_changes"]] != []
    sent = offline_bot.api.of("sendMessage")
    assert {call.params["parse_mode"] for call in sent} == {"HTML"}
    assert {call.params["chat_id"] for call in sent} == {USER_ID}


async def test_every_press_is_answered_and_its_message_shows_the_answer_without_buttons(offline_bot):
    await offline_bot.chat.send("/start")
    question = offline_bot.chat.seen[-1]
    await offline_bot.chat.press("consent:yes")
    api = offline_bot.api
    assert len(api.of("answerCallbackQuery")) == 1
    (edit,) = api.of("editMessageText")
    assert (edit.params["chat_id"], edit.params["message_id"]) == (USER_ID, question.message_id)
    assert "reply_markup" not in edit.params and api.live_keyboards(USER_ID) == [chat_last_id(offline_bot)]


def chat_last_id(bot) -> int:
    return bot.chat.seen[-1].message_id


async def test_the_command_menu_is_set_from_content_at_start(offline_bot):
    (call,) = offline_bot.api.of("setMyCommands")
    content = offline_bot.coach.content
    expected = [{"command": name, "description": content.message(f"command_{name}")} for name in COMMANDS]
    assert call.params["commands"] == expected


async def test_a_stale_button_gets_the_current_question_again_and_changes_nothing(offline_bot):
    chat = offline_bot.chat
    await chat.send("/start")
    consent = chat.seen[-1]
    await chat.press("consent:yes")
    before = await rows(offline_bot)
    replies = await chat.press("consent:no", on=consent)
    assert replies[0].text == offline_bot.coach.content.message("stale_button")
    assert replies[-1].values() == ["red_flags_urgent:yes", "red_flags_urgent:no"]
    assert await rows(offline_bot) == before


async def test_a_forged_button_is_recognised_and_changes_nothing(offline_bot):
    chat = offline_bot.chat
    await chat.send("/start")
    before = await rows(offline_bot)
    replies = await chat.press("equipment:barbell", on=chat.seen[-1])
    assert replies[0].text == offline_bot.coach.content.message("stale_button")
    assert replies[-1].values() == ["consent:yes", "consent:no"]
    assert await rows(offline_bot) == before
    assert (await offline_bot.storage.load_state(USER_ID)).name == "consent"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("sticker", {"file_id": "s", "file_unique_id": "su", "type": "regular", "width": 512, "height": 512,
                     "is_animated": False, "is_video": False}),
        ("photo", [{"file_id": "p", "file_unique_id": "pu", "width": 90, "height": 90}]),
        ("voice", {"file_id": "v", "file_unique_id": "vu", "duration": 3}),
        ("document", {"file_id": "d", "file_unique_id": "du"}),
        ("location", {"latitude": 51.5, "longitude": -0.1}),
    ],
)  # fmt: skip
async def test_non_text_input_gets_a_kind_reply_and_the_current_question(offline_bot, kind, payload):
    await offline_bot.chat.send("/start")
    replies = await offline_bot.chat.send_other(kind, payload)
    assert replies[0].text == offline_bot.coach.content.message("unsupported_input")
    assert replies[-1].values() == ["consent:yes", "consent:no"]


async def test_an_edited_message_is_not_taken_as_a_new_answer(offline_bot):
    await offline_bot.chat.send("/start")
    replies = await offline_bot.chat.send_other("text", "yes", edited=True)
    assert replies[0].text == offline_bot.coach.content.message("unsupported_input")
    assert (await offline_bot.storage.load_state(USER_ID)).name == "consent"


async def test_in_a_group_the_bot_points_to_a_private_chat_and_stores_nothing(offline_bot):
    replies = await offline_bot.chat.send("/start", chat=GROUP)
    assert [reply.text for reply in replies] == [offline_bot.coach.content.message("private_chat_only")]
    assert offline_bot.api.of("sendMessage")[0].params["chat_id"] == GROUP["id"]
    assert await rows(offline_bot) == {table: [] for table in await rows(offline_bot)}


async def test_a_user_who_blocked_the_bot_is_marked_inactive_until_they_write_again(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    api.blocked_chats.add(USER_ID)
    sends_before = len(api.of("sendMessage"))
    await chat.press("consent:yes")
    assert len(api.of("sendMessage")) == sends_before + 1  # the refused message, and nothing after it
    assert [user["active"] for user in (await rows(offline_bot))["users"]] == [False]
    api.blocked_chats.clear()
    await chat.send("/start")
    assert [user["active"] for user in (await rows(offline_bot))["users"]] == [True]


async def test_blocking_the_bot_in_telegram_marks_the_user_inactive(offline_bot):
    chat = offline_bot.chat
    await chat.send("/start")
    bot_user = {"id": 777000111, "is_bot": True, "first_name": "Hip Coach"}
    change = {
        "chat": chat.private_chat,
        "from": chat.user,
        "date": 1_796_000_000,
        "old_chat_member": {"user": bot_user, "status": "member"},
        "new_chat_member": {"user": bot_user, "status": "kicked", "until_date": 0},
    }
    await chat.deliver({"my_chat_member": change})
    assert [user["active"] for user in (await rows(offline_bot))["users"]] == [False]


async def test_a_rate_limit_is_waited_out_as_telegram_asks_and_the_message_sent(offline_bot):
    offline_bot.api.rate_limit_next("sendMessage", 3)
    replies = await offline_bot.chat.send("/start")
    assert offline_bot.sleeps.waits == [3.0]
    assert len(replies) == 3
    assert replies[-1].values() == ["consent:yes", "consent:no"]


async def test_a_send_that_cannot_connect_is_retried_with_growing_waits(offline_bot):
    offline_bot.api.refuse_connection_next("sendMessage", times=3)
    replies = await offline_bot.chat.send("/start")
    assert offline_bot.sleeps.waits == [1.0, 2.0, 4.0]
    assert len(replies) == 3


async def outbox_rows(bot) -> list[dict]:
    return (await bot.reports.rows_about(USER_ID))["outbox"]


async def test_a_message_whose_answer_was_lost_is_not_sent_again_and_the_rest_follow(offline_bot):
    offline_bot.api.time_out_next("sendMessage", delivered=True)
    replies = await offline_bot.chat.send("/start")
    assert len(replies) == 3  # each once: Telegram had the first, so no second copy
    assert len(offline_bot.api.of("sendMessage")) == 3 and offline_bot.sleeps.waits == []
    [row] = await outbox_rows(offline_bot)
    assert (row["status"], row["unconfirmed"]) == ("sent", 1)


async def test_a_message_that_timed_out_before_reaching_telegram_is_missed_rather_than_risk_a_double(
    offline_bot,
):
    offline_bot.api.time_out_next("sendMessage", delivered=False)
    replies = await offline_bot.chat.send("/start")
    assert len(replies) == 2 and len(offline_bot.api.of("sendMessage")) == 3
    [row] = await outbox_rows(offline_bot)
    assert (row["status"], row["unconfirmed"]) == ("sent", 1)


async def test_waiting_out_rate_limits_is_bounded(offline_bot, caplog):
    for _ in range(6):
        offline_bot.api.rate_limit_next("sendMessage", 1)
    with caplog.at_level(logging.INFO):
        assert await offline_bot.chat.send("/start") == []
    assert offline_bot.sleeps.waits == [1.0] * 5
    assert f"delivery failed user={USER_ID} outbox=1 error=RetryAfter" in caplog.text
    assert (await outbox_rows(offline_bot))[0]["status"] == "pending"  # the dispatcher tries again later


async def test_replies_that_cannot_be_delivered_go_back_to_the_outbox_and_the_log_has_no_text(
    offline_bot, caplog
):
    offline_bot.api.refuse_connection_next("sendMessage", times=5)
    with caplog.at_level(logging.INFO):
        replies = await offline_bot.chat.send("my back hurts when I lift my daughter")
    assert replies == []
    assert len(offline_bot.sleeps.waits) == 4  # bounded: four retries, then it gives up for now
    assert f"delivery failed user={USER_ID} outbox=1 error=NetworkError" in caplog.text
    assert "daughter" not in caplog.text
    [row] = await outbox_rows(offline_bot)
    assert (row["status"], row["attempts"], row["parts_done"]) == ("pending", 1, 0)


async def test_the_dispatcher_sends_what_the_webhook_could_not_from_the_part_it_stopped_at(offline_bot):
    offline_bot.api.answer_next("sendMessage")
    offline_bot.api.refuse_connection_next("sendMessage", times=5)  # the second of three replies fails
    welcome = await offline_bot.chat.send("/start")
    [row] = await outbox_rows(offline_bot)
    assert (row["status"], row["parts_done"]) == ("pending", 1)
    assert await offline_bot.built.dispatcher.flush() == 1
    rest = [Seen.from_params(*sent) for sent in offline_bot.api.delivered[len(welcome) :]]
    assert len(welcome) == 1 and len(rest) == 2
    assert rest[-1].values() == ["consent:yes", "consent:no"]
    assert (await outbox_rows(offline_bot))[0]["status"] == "sent"


async def test_dynamic_text_is_escaped_for_html(offline_bot):
    await offline_bot.chat.send("/start")
    replies = await offline_bot.chat.send("/<b>bold</b>")
    sent = offline_bot.api.of("sendMessage")[-len(replies)]
    assert "/&lt;b&gt;bold&lt;/b&gt;" in sent.params["text"]
    assert "/<b>bold</b>" in replies[0].text


@pytest.mark.parametrize("command", COMMANDS)
async def test_every_command_in_the_menu_gets_an_answer_and_never_an_apology(offline_bot, command):
    await offline_bot.chat.play(onboarding()[:3])
    replies = await offline_bot.chat.send(f"/{command}")
    assert replies
    assert offline_bot.coach.content.message("error_will_retry").strip() not in texts(replies)


async def test_the_offline_request_refuses_any_address_but_the_fake_bot_api(bot_api_spec):
    request = OfflineRequest(FakeBotApi(bot_api_spec), "https://api.telegram.org/bot")
    with pytest.raises(ConnectionRefusedError):
        await request.do_request("https://example.org/botX/getMe", "POST")
