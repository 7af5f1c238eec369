"""A flare-up's staged return, and the one tap about the rest of a session's plan (issue 13)."""

from datetime import UTC, datetime, timedelta

from hipcoach.flows import flare
from hipcoach.flows.progression import Decision
from hipcoach.flows.prompts import prompt
from tests.chat import EngineChat
from tests.unit.test_agenda import WEDNESDAY_SESSION, morning_answered
from tests.unit.test_progression_rules import session
from tests.unit.test_training_flow import trained

NOW = datetime(2026, 12, 10, 18, 0, tzinfo=UTC)
POSITION = {"ladder": "hinge", "exercise": "glute_bridge", "level": -2, "load": 0}


def plan(days_left: float, level: int = 1, load: int = 0) -> dict:
    until = NOW + timedelta(days=days_left)
    return {"since": NOW.isoformat(), "until": until.isoformat(), "exercise": "glute_bridge", "level": level,
            "load": load}  # fmt: skip


GOOD = {**session(), "counted": True}
PROGRESS = Decision("progress", "glute_bridge", "progress_dose", level=-1)


# ---- the flare-up plan, decision by decision ----


def test_a_flare_takes_a_heavier_bell_away_before_dose_levels(content):
    assert flare.lowered(1, 1, 2, content) == (0, 0)
    assert flare.lowered(-2, 0, 2, content) == (-3, 0)  # never below the lowest level


def test_in_the_lighter_days_a_good_session_holds_and_says_how_many_days_are_left(content):
    decision, kept = flare.adjust(PROGRESS, plan(1.5), GOOD, POSITION, NOW, content)
    assert (decision.kind, decision.reason, decision.params) == ("hold", "flare_hold", {"days": 2})
    assert kept == plan(1.5)


def test_after_the_lighter_days_each_good_counted_session_brings_the_dose_one_level_back(content):
    decision, kept = flare.adjust(PROGRESS, plan(-0.1), GOOD, POSITION, NOW, content)
    assert (decision.reason, decision.level, decision.params) == ("flare_step", -1, {"count": 2})
    assert kept is not None


def test_the_staged_return_ends_at_the_dose_before_the_flare_and_says_so(content):
    position = {**POSITION, "level": 0}
    decision, kept = flare.adjust(PROGRESS, plan(-2), GOOD, position, NOW, content)
    assert (decision.kind, decision.reason, decision.level) == ("progress", "flare_done", 1)
    assert kept is None


def test_a_session_that_was_not_good_brings_nothing_back_but_keeps_the_plan(content):
    hold = Decision("hold", "glute_bridge", "hold_pain", {"pain": 4})
    decision, kept = flare.adjust(hold, plan(-1), {**GOOD, "pain": 4}, POSITION, NOW, content)
    assert decision == hold and kept == plan(-1)


def test_a_step_back_is_taken_in_a_flare_as_always(content):
    back = Decision("simplify", "glute_bridge", "simplify_pain_dose", {"pain": 7}, level=-3)
    assert flare.adjust(back, plan(2), {**GOOD, "pain": 7}, POSITION, NOW, content) == (back, plan(2))


def test_a_flare_during_a_flare_starts_the_lighter_days_again_and_keeps_the_target(content):
    later = NOW + timedelta(days=2)
    again = flare.start(plan(1), POSITION, later, content)
    assert again["until"] == (later + timedelta(days=3)).isoformat()
    assert (again["level"], again["load"]) == (1, 0)


# ---- the flare-up plan in the chat ----


def test_flare_says_the_lighter_days_and_the_staged_return_and_asks_the_safety_questions(content):
    chat = morning_answered(trained(content))
    chat.send("/flare")
    assert "come back in stages" in chat.text and "both legs" not in chat.text
    assert chat.state.data["position"]["level"] == -2
    assert chat.last[-1].buttons == ((("Yes", "safety:yes"), ("No", "safety:no")),)
    for _ in content.safety.questions:
        chat.press("safety:no")
    assert "flare" in chat.state.data


def test_a_second_flare_extends_the_first_and_says_so(content):
    chat = morning_answered(trained(content))
    chat.send("/flare")
    for _ in content.safety.questions:
        chat.press("safety:no")
    first = chat.state.data["flare"]
    chat.now += timedelta(days=1)
    chat.send("my back has flared up again")
    assert "start the 3 lighter days again" in chat.text
    again = chat.state.data["flare"]
    assert again["until"] > first["until"] and again["level"] == first["level"]


def test_a_yes_to_a_safety_question_after_a_flare_still_stops_everything(content):
    chat = morning_answered(trained(content))
    chat.send("/flare")
    chat.press("safety:yes")
    assert chat.state.name == "urgent_stop"


def test_a_good_session_in_the_lighter_days_is_told_it_stays_light(content):
    chat = morning_answered(trained(content))
    chat.send("/flare")
    for _ in content.safety.questions:
        chat.press("safety:no")
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")
    chat.press("checkin_parts:fine")
    chat.now = WEDNESDAY_SESSION + timedelta(hours=14)
    chat.send("better")
    assert "still in your lighter flare-up days" in chat.text
    assert chat.state.data["position"]["level"] == -2


# ---- one tap about the rest of the plan ----


def after_a_session(content) -> EngineChat:
    chat = morning_answered(trained(content))
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 1, easy, smooth")
    return chat


def test_after_the_main_check_in_one_tap_asks_about_the_warm_up_and_accessory(content):
    chat = after_a_session(content)
    assert chat.state.name == "checkin_parts"
    labels = [label for row in chat.last[-1].buttons for label, _ in row]
    assert labels == ["All fine", "Skipped them", "The warm-up hurt", "The extra exercise hurt"]
    chat.press("checkin_parts:skipped")
    assert chat.state.data["history"][-1]["parts"] == "skipped"
    assert "even a few minutes of them next time helps" in chat.text
    assert chat.state.name == "idle"


def test_a_part_that_hurt_rests_for_a_few_counted_sessions_and_comes_back_said_so(content):
    chat = after_a_session(content)
    chat.send("the warm up hurt")
    assert "leave it out of your next 3 sessions" in chat.text
    card = prompt("session", chat.state.data, content, chat.now)
    assert "warm-up is resting" in card.params["plan"]
    day = WEDNESDAY_SESSION
    said = ""
    for _ in range(3):
        day += timedelta(days=2)
        chat.now = day
        chat.send("/today")
        if chat.state.name == "morning_check":
            chat.press("morning_check:same")
            chat.send("/today")
        chat.press("session:done")
        chat.send("pain 1, easy, smooth")
        said += chat.text
        if chat.state.name == "checkin_parts":
            chat.press("checkin_parts:fine")
    assert "the warm-up is back in your plan" in said
    assert "resting" not in chat.state.data


def test_a_check_in_without_a_session_does_not_ask_about_the_rest_of_the_plan(content):
    chat = morning_answered(trained(content))
    chat.now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    chat.send("/checkin")
    chat.send("pain 1, easy, smooth")
    assert chat.state.name != "checkin_parts"


def test_pain_above_five_is_acted_on_at_once_without_the_extra_tap(content):
    chat = morning_answered(trained(content))
    chat.due("session", WEDNESDAY_SESSION)
    chat.press("session_offer:start")
    chat.press("session:done")
    chat.send("pain 7")
    assert chat.state.name != "checkin_parts"


def test_the_extra_tap_is_optional_an_answer_to_the_next_question_is_taken_as_meant(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    chat.send("no pain, easy, smooth")
    assert chat.state.name == "checkin_parts"
    chat.press("schedule_days:mon_wed_fri")
    assert chat.state.name == "schedule_time"
    assert chat.state.data["history"][-1]["parts"] == "unanswered"


def test_a_prompt_that_comes_due_while_the_extra_tap_waits_is_asked_all_the_same(content):
    chat = after_a_session(content)
    assert chat.state.name == "checkin_parts"
    chat.due("morning", WEDNESDAY_SESSION + timedelta(hours=14))
    assert chat.state.name == "morning_check"
    assert chat.state.data["history"][-1]["parts"] == "unanswered"
