"""A chat that behaves like a good Telegram bot: one live keyboard, pressed answers shown, toggles in place,
chat actions, a captioned chart, and a turn that no failed answer or edit can lose."""

from __future__ import annotations

import sqlite3

import pytest

from hipcoach.bot.telegram.live_keyboards import SqlLiveKeyboards
from hipcoach.bot.telegram.sender import TelegramSender
from hipcoach.flows import Message
from hipcoach.flows.values import File
from tests.telegram.offline_chat import DATE, USER_ID, Seen
from tests.telegram.script import onboarding

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own

CHECK_INS = 3


async def state_of(bot) -> str:
    return (await bot.storage.load_state(USER_ID)).name


async def to_equipment(bot) -> Seen:
    """Onboard up to the equipment question; the question as the user sees it."""
    steps = onboarding()
    await bot.chat.play(
        steps[: next(n for n, step in enumerate(steps) if step.value.startswith("equipment:"))]
    )
    assert await state_of(bot) == "equipment"
    return bot.chat.seen[-1]


async def check_in(chat) -> None:
    """/checkin, the pain typed, then the first button of each question until the coach is idle again."""
    await chat.send("/checkin")
    await chat.send("pain 2")
    for _ in range(8):
        values = chat.seen[-1].values()
        if not values or values[0].startswith("idle:"):
            return
        await chat.press(values[0])


def answer_label(seen: Seen, value: str) -> str:
    return next(label for row in seen.buttons for label, pressed in row if pressed == value)


async def test_after_onboarding_and_check_ins_one_keyboard_is_live_and_every_press_edited_its_message(
    offline_bot,
):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.play(onboarding())
    for _ in range(CHECK_INS):
        await check_in(chat)
    await chat.send("/progress")
    await chat.send("/help")
    assert api.live_keyboards(USER_ID) == [chat.seen[-1].message_id]  # the question asked last
    presses = len(api.of("answerCallbackQuery"))
    assert presses > 3 * CHECK_INS and len(api.of("editMessageText")) == presses
    in_place = [edit for edit in api.of("editMessageText") if "reply_markup" in edit.params]
    assert len(in_place) == 1  # the equipment item ticked; every other press had its answer shown
    assert all("\n\n✓ " in edit.params["text"] for edit in api.of("editMessageText") if edit not in in_place)


async def test_a_pressed_message_shows_the_chosen_label_in_its_own_html_and_loses_its_keyboard(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    question = chat.seen[-1]
    rows = [[{"text": label, "callback_data": data} for label, data in row] for row in question.buttons]
    message = {
        "message_id": question.message_id,
        "date": DATE,
        "chat": chat.private_chat,
        "from": {"id": 777000111, "is_bot": True, "first_name": "Hip Coach"},
        "text": question.text,
        "entities": [{"type": "bold", "offset": 0, "length": 2}],
        "reply_markup": {"inline_keyboard": rows},
    }
    query = {"id": "q1", "from": chat.user, "chat_instance": "42", "message": message, "data": "consent:yes"}
    await chat.deliver({"callback_query": query})
    (edit,) = api.of("editMessageText")
    label = answer_label(question, "consent:yes")
    assert edit.params["text"] == f"<b>{question.text[:2]}</b>{question.text[2:]}\n\n✓ {label}"
    assert edit.params["parse_mode"] == "HTML" and "reply_markup" not in edit.params
    assert question.message_id not in api.live_keyboards(USER_ID)
    assert await state_of(offline_bot) == "red_flags_urgent"


async def test_a_press_is_answered_only_once_its_turn_is_committed(offline_bot, database_url):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    path = database_url.removeprefix("sqlite+aiosqlite:///")
    states_when_answered = []
    answer = api.answer

    def noting(method, params):
        if method in ("answerCallbackQuery", "editMessageText"):
            with sqlite3.connect(path) as db:
                states_when_answered.append(db.execute("SELECT name FROM dialogue_states").fetchone()[0])
        return answer(method, params)

    api.answer = noting
    await chat.press("consent:yes")
    assert states_when_answered == ["red_flags_urgent", "red_flags_urgent"]


async def test_equipment_toggles_edit_the_question_in_place_and_send_no_new_message(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    question = await to_equipment(offline_bot)
    sent, calls = len(api.of("sendMessage")), len(api.calls)
    for item in ("equipment:kettlebell", "equipment:dowel", "equipment:dowel"):
        await chat.press(item, on=chat.seen[-1])
    assert len(api.of("sendMessage")) == sent
    edits = [call for call in api.calls[calls:] if call.method == "editMessageText"]
    assert [edit.params["message_id"] for edit in edits] == [question.message_id] * 3
    assert ("✓ Kettlebell", "equipment:kettlebell") in chat.seen[-1].buttons[0]
    assert api.live_keyboards(USER_ID) == [question.message_id]
    await chat.press("equipment:done", on=chat.seen[-1])
    assert api.text_of(USER_ID, question.message_id).endswith(
        "\n\n✓ " + answer_label(chat.seen[-3], "equipment:done")
    )
    assert await state_of(offline_bot) == "goal_activity"


FAILURES = [
    (400, "Bad Request: query is too old and response timeout expired or query ID is invalid"),
    (403, "Forbidden: bot was blocked by the user"),
    (429, None),
    (0, None),  # no answer in time
    (502, "Bad Gateway"),
]


@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageText"])
@pytest.mark.parametrize(("status", "description"), FAILURES)
async def test_a_failed_press_answer_or_edit_does_not_lose_the_turn(offline_bot, method, status, description):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    if status == 429:
        api.rate_limit_next(method, 30)
    elif status == 0:
        api.time_out_next(method)
    else:
        api.fail_next(method, status, description)
    replies = await chat.press("consent:yes")
    assert await state_of(offline_bot) == "red_flags_urgent"
    assert replies[-1].values() == ["red_flags_urgent:yes", "red_flags_urgent:no"]
    assert offline_bot.sleeps.waits == []  # nothing waited for: the press is settled as best it can be


async def test_a_press_whose_turn_failed_is_answered_and_keeps_its_buttons(offline_bot, monkeypatch):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    question = chat.seen[-1]

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(offline_bot.storage, "unit_of_work", broken)
    replies = await chat.press("consent:yes")
    assert replies[0].text == offline_bot.coach.content.message("error_will_retry").strip()
    assert len(api.of("answerCallbackQuery")) == 1 and api.of("editMessageText") == []
    assert question.message_id in api.live_keyboards(USER_ID)


async def test_a_typed_answer_retires_the_keyboard_it_answered(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.play(onboarding()[:2])
    question = chat.seen[-1]
    await chat.send("yes")
    assert api.of("editMessageReplyMarkup")[-1].params == {
        "chat_id": USER_ID,
        "message_id": question.message_id,
    }
    assert api.live_keyboards(USER_ID) == [chat.seen[-1].message_id]


async def test_live_keyboards_are_kept_in_the_database_for_a_restarted_bot(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    question = chat.seen[-1]
    [user] = (await offline_bot.reports.rows_about(USER_ID))["users"]
    assert user["live_keyboards"] == [question.message_id]
    storage = offline_bot.storage
    restarted = TelegramSender(
        chat.application.bot,
        storage.mark_inactive,
        keyboards=SqlLiveKeyboards(storage.transactions),
    )
    await restarted.send(USER_ID, [Message("Pick one", ((("A", "x:a"),),))])
    assert api.of("editMessageReplyMarkup")[-1].params["message_id"] == question.message_id
    assert api.live_keyboards(USER_ID) == [api.delivered[-1][0]]


async def test_typing_is_shown_while_a_text_turn_is_taken(offline_bot):
    api = offline_bot.api
    await offline_bot.chat.send("/start")
    first = next(n for n, call in enumerate(api.calls) if call.method == "sendMessage")
    assert [(c.method, c.params.get("action")) for c in api.calls[first - 1 : first]] == [
        ("sendChatAction", "typing")
    ]


async def test_progress_shows_a_photo_upload_then_sends_the_chart_captioned_with_its_summary(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.play(onboarding())
    await chat.send("/progress")
    photo_at = next(n for n, call in enumerate(api.calls) if call.method == "sendPhoto")
    before = api.calls[photo_at - 1]
    assert (before.method, before.params["action"]) == ("sendChatAction", "upload_photo")
    caption = api.calls[photo_at].params["caption"]
    assert caption.startswith("Your progress so far") and len(caption) <= 1024


async def test_a_text_too_long_for_a_caption_goes_before_the_photo_as_a_message(offline_bot):
    api = offline_bot.api
    sender = offline_bot.sender
    long_text = "Your progress. " * 80
    await sender.send(USER_ID, [Message(long_text, files=(File("chart.png", b"\x89PNG", "photo"),))])
    assert [call.method for call in api.calls if call.method in ("sendMessage", "sendPhoto")][-2:] == [
        "sendMessage",
        "sendPhoto",
    ]
    assert "caption" not in api.of("sendPhoto")[-1].params


class CountedKeyboards:
    """The sender's live keyboards, counting the reads and notes made outside the outbox's own writes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.reads = self.notes = 0

    async def get(self, chat_id: int) -> list[int]:
        self.reads += 1
        return await self.inner.get(chat_id)

    async def put(self, chat_id: int, message_ids: list[int]) -> None:
        self.notes += 1
        await self.inner.put(chat_id, message_ids)


async def test_replies_read_the_live_keyboards_with_their_rows_claim_and_note_them_with_its_mark(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    counted = CountedKeyboards(offline_bot.sender.keyboards)
    offline_bot.sender.keyboards = counted
    await to_equipment(offline_bot)  # each question's keyboard retires the one before
    assert (counted.reads, counted.notes) == (0, 0)
    assert api.live_keyboards(USER_ID) == [chat.seen[-1].message_id]
    [user] = (await offline_bot.reports.rows_about(USER_ID))["users"]
    assert user["live_keyboards"] == [chat.seen[-1].message_id]
