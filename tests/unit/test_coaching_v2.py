"""The coaching model's pace: training days counted, the morning re-decides, rest and schedule agree."""

from datetime import UTC, datetime, timedelta

from hipcoach.flows.values import SchedulePrompt
from tests.unit.test_agenda import WEDNESDAY_SESSION, morning_answered, trained


def test_the_onboarding_session_and_an_evening_session_the_same_day_count_once(content):
    chat = trained(content)
    chat.now = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    chat.send("/today")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")
    assert [entry["counted"] for entry in chat.state.data["history"]] == [True, False]
    assert "Only one session a day counts" in chat.text


def test_a_check_in_without_a_session_is_recorded_but_does_not_count(content):
    chat = morning_answered(trained(content))
    chat.now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    chat.send("/checkin")
    chat.send("pain 1, easy, smooth")
    assert chat.state.data["history"][-1]["counted"] is False


def test_a_worse_morning_after_acceptable_pain_steps_back_even_though_the_session_was_decided(content):
    chat = morning_answered(trained(content))
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 5, ok, smooth")
    assert chat.state.data["position"]["exercise"] == "kneeling_hip_thrust"
    chat.now = WEDNESDAY_SESSION + timedelta(hours=14)
    chat.send("worse")
    assert "lighten Kneeling hip thrust" in chat.text  # the dose comes down before the rung does
    assert chat.state.data["position"] == {**chat.state.data["position"], "level": -1}


def test_a_rest_day_moves_the_next_reminder_past_tomorrow_and_says_when(content):
    chat = morning_answered(trained(content))
    data = dict(chat.state.data)
    data["history"] = [
        {**data["history"][0], "at": (WEDNESDAY_SESSION - timedelta(days=d)).isoformat(), "pain": p,
         "morning": "same", "counted": True}
        for d, p in ((12, 1), (10, 1), (3, 4))
    ]  # fmt: skip
    chat.state = type(chat.state)(chat.state.name, data)
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 5, ok, smooth")
    moved = [e for e in chat.effects if isinstance(e, SchedulePrompt) and e.kind == "session"][-1]
    assert moved.due_at - WEDNESDAY_SESSION >= timedelta(hours=36)
    assert "Take a rest day" in chat.text and "on Friday" in chat.text


def test_good_sessions_raise_the_dose_on_the_card_before_changing_the_exercise(content):
    chat = morning_answered(trained(content))  # Tuesday: one good session and a settled morning
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")
    chat.now = WEDNESDAY_SESSION + timedelta(hours=14)
    chat.send("better")
    assert "goes up a step" in chat.text and "2 sets of 12 reps" in chat.text
    assert chat.state.data["position"] == {**chat.state.data["position"], "exercise": "kneeling_hip_thrust"}
    chat.send("/today")
    assert "2 sets of 12 reps" in chat.text


def test_a_short_note_about_pain_follows_the_first_counted_sessions_once_each(content):
    chat = trained(content)  # the first counted session is behind it
    assert chat.state.data["notes_given"] == [content.education.notes[0].id]
    chat.now = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    chat.send("/today")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")  # same day: not counted, so no new note
    assert chat.state.data["notes_given"] == [content.education.notes[0].id]


def test_after_its_sessions_an_alternative_leads_back_to_the_ladder_the_user_was_stuck_on(content):
    chat = morning_answered(trained(content))
    data = dict(chat.state.data)
    data["detour"] = {**data["position"], "sessions": content.progression.detour_sessions - 1}
    data["position"] = {"ladder": "core", "exercise": "bird_dog"}
    chat.state = type(chat.state)(chat.state.name, data)
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")
    assert chat.state.data["position"]["exercise"] == "kneeling_hip_thrust"
    assert "we go back to Kneeling hip thrust" in chat.text


def test_after_two_weeks_away_the_user_restarts_one_step_lower_told_why(content):
    chat = morning_answered(trained(content))
    chat.now = chat.now + timedelta(days=20)
    chat.send("/today")
    assert "It has been 21 days since your last session" in chat.text
    assert chat.state.data["position"]["level"] == -1
    chat.send("/today")  # once per break, not at every card
    assert "It has been" not in chat.text


def test_a_flare_up_in_words_lightens_the_plan_and_asks_the_safety_questions_again(content):
    chat = morning_answered(trained(content))
    chat.send("my back has flared up again")
    assert "Flare-ups happen and they settle" in chat.text
    assert chat.state.data["position"]["level"] == -2
    assert chat.last[-1].buttons[0][0][1] == "safety:yes"
    for _ in content.safety.questions:
        chat.press("safety:no")
    assert chat.state.name == "idle"


def test_flare_command_and_a_yes_to_a_safety_question_stops_the_programme(content):
    chat = morning_answered(trained(content))
    chat.send("/flare")
    chat.press("safety:yes")
    assert chat.state.name == "urgent_stop"


def test_a_session_is_a_small_plan_of_warm_up_main_exercise_and_accessory(content):
    chat = morning_answered(trained(content))
    chat.send("/today")
    assert (
        "Today's plan: warm up with Half-kneeling hip flexor stretch, then Kneeling hip thrust" in chat.text
    )


def test_pain_somewhere_other_than_the_back_is_said_with_its_place(content):
    chat = morning_answered(trained(content))
    chat.send("/today")
    chat.press("session:done")
    chat.send("hip 4, ok, smooth")
    assert "You felt it in your hip (4 out of 10), not your back" in chat.text


def test_a_kettlebell_card_says_how_to_choose_and_raise_the_weight(content):
    from hipcoach.flows.prompts import prompt

    chat = morning_answered(trained(content))
    answers = {**chat.state.data["answers"], "equipment": ["kettlebell"]}
    data = {
        **chat.state.data,
        "answers": answers,
        "position": {"ladder": "hinge", "exercise": "kettlebell_deadlift"},
    }
    card = prompt("session", data, content, chat.now)
    assert "Many women start with 8-12 kg and many men with 12-16 kg" in card.params["dose"]
    assert "never ask you to lift more than you can control" in card.params["dose"]
