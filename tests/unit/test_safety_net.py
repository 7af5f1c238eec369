"""The safety screen in the chat: it reads every text first, in every state, and holds what it stops."""

import pytest

from hipcoach.flows.values import CancelPrompts, RecordAnswer, RecordRedFlag
from tests.chat import EngineChat
from tests.unit.test_training_flow import SCHEDULE


def reach(content, state: str) -> EngineChat:
    """A user whose dialogue stands at `state`, reached with buttons only."""
    chat = EngineChat(content)
    if state == "new":
        return chat
    chat.send("hello")
    steps = {
        "red_flags_urgent": ["consent:yes"],
        "load_pain": ["consent:yes", "red_flags_urgent:no", "red_flags_clinician:no"],
        "equipment": ["consent:yes", "red_flags_urgent:no", "red_flags_clinician:no", "load_pain:no",
                      "kneeling_ok:yes", "knee_issues:no"],
    }  # fmt: skip
    if state in steps:
        for value in steps[state]:
            chat.press(value)
        return chat
    if state == "consent":
        return chat
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    if state == "session":
        return chat
    chat.press("session:done")
    if state == "checkin_effort":
        chat.send("pain 2")
        return chat
    chat.send("no pain, easy, smooth")
    if state == "checkin_parts":
        return chat
    chat.press("checkin_parts:fine")
    if state == "schedule_days":
        return chat
    for value in SCHEDULE:
        chat.press(value)
    if state == "paused":
        chat.send("/pause")
    return chat


STATES = ["new", "consent", "red_flags_urgent", "load_pain", "equipment", "session", "checkin_effort",
          "checkin_parts", "schedule_days", "idle", "paused"]  # fmt: skip


@pytest.mark.parametrize("state", STATES)
def test_an_urgent_sign_in_everyday_words_stops_the_programme_in_every_state(content, state):
    chat = reach(content, state)
    chat.send("numb when i wipe")
    assert chat.state.name == "urgent_stop"
    assert "urgent medical help" in chat.text
    flag = next(e for e in chat.effects if isinstance(e, RecordRedFlag))
    assert flag.tier == "urgent" and flag.signs == ("saddle_numbness",) and flag.state == state


@pytest.mark.parametrize("state", STATES)
def test_a_clinician_sign_pauses_the_programme_in_every_state(content, state):
    chat = reach(content, state)
    chat.send("i was treated for breast cancer a few years ago")
    assert chat.state.name == "clinician_hold"
    assert CancelPrompts() in chat.effects


@pytest.mark.parametrize("state", STATES[2:])
def test_a_suggestive_sign_asks_the_specific_questions_before_anything_else(content, state):
    chat = reach(content, state)
    chat.send("I have sciatica down my left leg")
    assert chat.state.name == state
    assert chat.last[-1].buttons == ((("Yes", "safety:yes"), ("No", "safety:no")),)
    assert "both legs" in chat.text


def test_yes_to_a_specific_question_stops_the_programme(content):
    chat = reach(content, "idle")
    chat.send("tingling down the back of my right leg")
    chat.press("safety:no")
    chat.press("safety:yes")
    assert chat.state.name == "urgent_stop"


def test_no_to_every_question_goes_on_and_still_reads_the_first_message(content):
    chat = reach(content, "checkin_effort")
    chat.send("easy, smooth, but a bit of tingling in my feet")
    while chat.last[-1].buttons and chat.last[-1].buttons[0][0][1] == "safety:yes":
        chat.press("safety:no")
    assert "Thank you." in chat.text
    assert chat.state.name != "checkin_effort"


def test_a_command_during_the_questions_comes_back_to_them(content):
    chat = reach(content, "idle")
    chat.send("pins and needles in my left foot")
    chat.send("/help")
    assert chat.last[-1].buttons[0][0][1] == "safety:yes"


@pytest.mark.parametrize(
    "text",
    ["i have an appointment with my GP next week", "ok", "sure, I'll book an appointment",
     "what should I do meanwhile?", "yes", "hopefully the doctor says its fine"],
)  # fmt: skip
def test_the_clinician_hold_survives_free_text_that_is_no_clearance(content, text):
    chat = reach(content, "idle")
    chat.send("i had a bad fall off a ladder last week")
    chat.send(text)
    assert chat.state.name == "clinician_hold"


def test_an_explicit_clearance_is_acknowledged_and_its_limits_are_kept(content):
    chat = reach(content, "idle")
    chat.send("i had a bad fall off a ladder last week")
    chat.send("yes, a clinician has checked me and says exercise is fine")
    assert chat.state.name == "clinician_limits"
    chat.send("no heavy lifting for six weeks")
    assert chat.state.name == "idle"
    assert RecordAnswer("clinician_limits", "no heavy lifting for six weeks") in chat.effects
    chat.send("/progress")
    assert "no heavy lifting for six weeks" in chat.text


def test_an_urgent_stop_survives_restart_without_the_assessment(content):
    chat = reach(content, "idle")
    chat.send("bursting for a wee but nothing comes out")
    chat.send("/restart")
    assert chat.state.name == "urgent_stop"
    chat.send("not yet, going later")
    assert chat.state.name == "urgent_stop"
    chat.send("/help")
    assert "assessed" in chat.text
    chat.send("I went to A&E and the doctor checked me, all clear")
    assert chat.state.name == "red_flags_urgent"


@pytest.mark.parametrize(
    "text",
    ["no numbness, just a sore back", "had a wee accident with the kettlebell", "a wee bit sore today",
     "nearly wet myself laughing at the video"],
)  # fmt: skip
def test_near_misses_do_not_stop_anything(content, text):
    chat = reach(content, "idle")
    chat.send(text)
    assert chat.state.name != "urgent_stop"
    assert not any(isinstance(e, RecordRedFlag) for e in chat.effects)


def test_a_check_in_under_way_waits_through_a_clinician_hold_and_comes_back_after_clearance(content):
    chat = reach(content, "checkin_effort")
    chat.send("i had a bad fall off a ladder last week")
    assert chat.state.name == "clinician_hold"
    chat.send("yes, a clinician has checked me and says exercise is fine")
    chat.press("clinician_limits:none")
    assert chat.state.name == "checkin_effort"
    assert chat.state.data["checkin"]["pain"] == 2
