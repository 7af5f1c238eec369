"""Nothing pending is lost: the agenda keeps what is open and comes back to it (issue 12's cases)."""

from datetime import UTC, datetime, timedelta

from hipcoach.flows.values import RecordCheckIn, RecordGoal
from tests.chat import EngineChat
from tests.unit.test_training_flow import SCHEDULE, trained

# Tuesday 1 December 2026, 08:00 UTC is the chat's default now; Wednesday is a training day at 18:00.
WEDNESDAY_SESSION = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def morning_answered(chat: EngineChat) -> EngineChat:
    chat.now = datetime(2026, 12, 2, 8, 5, tzinfo=UTC)
    chat.send("/help")
    if chat.state.name == "morning_check":
        chat.press("morning_check:same")
    return chat


def kinds(chat: EngineChat) -> list[str]:
    return [item["kind"] for item in chat.state.data.get("agenda", [])]


def test_the_goal_question_does_not_replace_the_days_session_prompt(content):
    chat = morning_answered(trained(content))
    chat.due("goal", WEDNESDAY_SESSION - timedelta(minutes=1))
    assert chat.state.name == "goal_recheck"
    chat.due("session", WEDNESDAY_SESSION)
    assert chat.state.name == "session_offer"
    assert "missed" not in chat.state.data
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")
    chat.press("checkin_parts:fine")
    assert chat.state.name == "goal_recheck"
    assert "Back to the question about your goal" in chat.text


def test_a_check_in_sentence_at_the_goal_question_is_taken_as_the_check_in(content):
    chat = morning_answered(trained(content))
    chat.due("goal", WEDNESDAY_SESSION)
    chat.send("3, about right, smooth")
    assert RecordCheckIn("kneeling_hip_thrust", 3, "ok", "smooth") in chat.effects
    assert not any(isinstance(effect, RecordGoal) and effect.score == 3 for effect in chat.effects)
    assert chat.state.name == "goal_recheck"


def test_pain_above_five_with_lost_form_is_acted_on_even_if_effort_is_missing(content):
    chat = morning_answered(trained(content))
    chat.send("/checkin")
    chat.send("ouch, 7 out of 10, lost form")
    assert RecordCheckIn("kneeling_hip_thrust", 7, "unanswered", "lost") in chat.effects
    assert chat.state.data["position"]["exercise"] != "kneeling_hip_thrust"
    chat.send("/schedule")
    chat.send("/progress")
    assert len(chat.state.data["history"]) == 2


def test_a_check_in_left_for_a_command_comes_back_afterwards(content):
    chat = morning_answered(trained(content))
    chat.send("/checkin")
    chat.send("pain 2")
    assert chat.state.name == "checkin_effort"
    chat.send("/schedule")
    said = [message.text for value in SCHEDULE for message in chat.press(value)]
    assert chat.state.name == "checkin_effort"
    assert "Back to your check-in." in said
    chat.press("checkin_effort:easy")
    chat.press("checkin_control:smooth")
    assert RecordCheckIn("kneeling_hip_thrust", 2, "easy", "smooth") in chat.effects


def test_an_unanswered_goal_question_never_stops_the_session_prompts(content):
    chat = morning_answered(trained(content))
    chat.due("goal", WEDNESDAY_SESSION - timedelta(hours=2))
    for days in (0, 2, 5, 7, 9):
        chat.due("session", WEDNESDAY_SESSION + timedelta(days=days))
        assert chat.state.name == "session_offer", days
        chat.press("session_offer:skip")
    assert "goal" not in kinds(chat)  # it lapsed kindly after its week


def test_an_unanswered_offer_never_stops_the_session_prompts(content):
    chat = morning_answered(trained(content))
    chat.state = type(chat.state)(
        "sticking_offer", {**chat.state.data, "offer": {"ladder": "core", "exercise": "bird_dog"}}
    )
    chat.due("session", WEDNESDAY_SESSION)
    assert chat.state.name == "session_offer"
    chat.press("session_offer:skip")
    assert chat.state.name == "sticking_offer"
    assert "a different angle often helps" in chat.text


def test_the_morning_question_waits_behind_an_untapped_session_prompt_and_neither_is_lost(content):
    early = [*SCHEDULE[:1], "schedule_time:0730", *SCHEDULE[2:]]
    chat = trained(content, early)
    chat.due("session", datetime(2026, 12, 2, 7, 30, tzinfo=UTC))
    assert chat.state.name in ("session_offer", "morning_check")
    chat.due("morning", datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    assert chat.state.name == "morning_check"
    chat.press("morning_check:better")
    assert chat.state.name == "session_offer"
    assert "Time for your session" in chat.text


def test_without_a_schedule_the_morning_question_is_asked_at_the_first_contact_next_morning(content):
    chat = trained(content, schedule=[])
    assert "I will ask tomorrow morning" not in chat.text
    chat.now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    chat.send("hi")
    assert chat.state.name == "morning_check"
    chat.send("a bit better")
    assert chat.state.data["history"][-1]["morning"] == "better"


def test_typed_answers_to_a_session_prompt_are_understood(content):
    for typed, state in [("yes", "session"), ("ok", "session"), ("lets go", "session"),
                         ("later", "idle"), ("in 30", "idle"), ("skip", "idle"),
                         ("nah skip it today", "idle")]:  # fmt: skip
        chat = morning_answered(trained(content))
        chat.due("session", WEDNESDAY_SESSION)
        chat.send(typed)
        assert chat.state.name == state, typed
        assert "didn't catch" not in chat.text, typed


def test_pain_talk_while_idle_gets_an_answer_and_a_way_forward(content):
    chat = morning_answered(trained(content))
    chat.send("my back hurts a bit today")
    assert "didn't catch" not in chat.text
    assert "/checkin" in chat.text and "/pause" in chat.text


def test_a_question_gets_the_help_answer(content):
    chat = morning_answered(trained(content))
    chat.send("how do I change my reminder time?")
    assert "/schedule" in chat.text
