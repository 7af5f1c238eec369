"""Sessions, check-ins, schedule and prompts through the pure engine."""

from datetime import UTC, datetime, timedelta

from hipcoach.flows import Choice, Due, State, step
from hipcoach.flows.render import plain
from hipcoach.flows.values import CancelPrompts, RecordCheckIn, RecordRedFlag, SchedulePrompt
from tests.chat import EngineChat

SCHEDULE = [
    "schedule_days:mon_wed_fri",
    "schedule_time:1800",
    "schedule_zone:utc",
    "schedule_summary_day:6",
    "schedule_confirm:yes",
]


def trained(content, schedule=SCHEDULE) -> EngineChat:
    """A user past onboarding, first session checked in, and a schedule (Mon/Wed/Fri 18:00 UTC unless
    told otherwise; none for an empty one)."""
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    chat.send("no pain, easy, smooth")
    for value in schedule:
        chat.press(value)
    return chat


def test_a_one_sentence_check_in_fills_what_it_can_and_asks_the_rest_with_buttons(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    chat.send("back hurt about 4/10 on the last few")
    assert chat.state.name == "checkin_effort"
    assert chat.state.data["checkin"] == {"pain": 4, "location": "lower back"}
    chat.press("checkin_effort:ok")
    assert chat.state.name == "checkin_control"
    chat.press("checkin_control:wobbly")
    assert RecordCheckIn("kneeling_hip_thrust", 4, "ok", "wobbly", "lower back") in chat.effects
    assert "stay with Kneeling hip thrust" in chat.text


def test_the_check_in_takes_three_taps_for_the_main_exercise_and_one_for_the_rest_of_the_plan(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    for value in ("checkin_pain:1", "checkin_effort:easy", "checkin_control:smooth"):
        chat.press(value)
    assert any(isinstance(e, RecordCheckIn) for e in chat.effects)
    assert chat.state.name == "checkin_parts"
    chat.press("checkin_parts:fine")
    assert chat.state.name == "schedule_days"


def test_pain_above_five_steps_back_at_once_with_the_reason(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    chat.send("pain 7, hard, lost form")
    assert "Pain of 7 out of 10 is more than we want" in chat.text
    assert chat.state.data["position"]["exercise"] == "four_point_rock_back"


def test_confirming_the_schedule_plans_the_next_session_in_the_users_zone(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    chat.send("no pain, easy, smooth")
    chat.send("tuesdays and thursdays")
    chat.send("6:30pm")
    chat.send("New York")
    chat.send("sunday")
    assert "America/New_York" in chat.text and "18:30" in chat.text
    chat.send("yes")
    planned = [e for e in chat.effects if isinstance(e, SchedulePrompt) and e.kind == "session"]
    assert planned == [SchedulePrompt("session", datetime(2026, 12, 1, 23, 30, tzinfo=UTC))]


def test_the_next_session_is_planned_at_the_same_local_time_across_a_daylight_saving_change(content):
    before_the_change = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday; clocks go forward on Sunday
    draft = {"days": [0], "time": "18:00", "zone": "Europe/London", "summary_day": 6}
    confirm = State("schedule_confirm", {**trained(content).state.data, "draft": draft})
    outcome = step(confirm, Choice("schedule_confirm:yes"), before_the_change, content)
    planned = [e for e in outcome.effects if isinstance(e, SchedulePrompt) and e.kind == "session"]
    assert planned == [SchedulePrompt("session", datetime(2026, 3, 30, 17, 0, tzinfo=UTC))]  # 18:00 BST


def test_a_due_session_offers_start_snooze_and_skip_and_plans_the_next_one(content):
    chat = trained(content)
    outcome = step(chat.state, Due("session", 1, chat_now()), chat_now(), content)
    assert outcome.state.name == "session_offer"
    assert SchedulePrompt("session", datetime(2026, 12, 2, 18, 0, tzinfo=UTC)) in outcome.effects


def chat_now() -> datetime:
    return datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_snoozing_sets_a_snooze_prompt_and_says_when(content):
    chat = trained(content)
    chat.state = step(chat.state, Due("session", 1, chat_now()), chat_now(), content).state
    chat.press("session_offer:snooze_30")
    assert SchedulePrompt("snooze", chat_now() + timedelta(minutes=30)) in chat.effects
    assert "08:30" in chat.text
    assert chat.state.name == "idle"


def test_a_snooze_that_lands_in_quiet_hours_moves_to_the_morning(content):
    late = datetime(2026, 12, 1, 21, 45, tzinfo=UTC)
    chat = trained(content)
    state = step(chat.state, Due("session", 1, late), late, content).state
    outcome = step(state, Choice("session_offer:snooze_30"), late, content)
    assert SchedulePrompt("snooze", datetime(2026, 12, 2, 7, 0, tzinfo=UTC)) in outcome.effects


def test_skip_today_returns_to_idle_kindly(content):
    chat = trained(content)
    chat.state = step(chat.state, Due("session", 1, chat_now()), chat_now(), content).state
    chat.press("session_offer:skip")
    assert chat.state.name == "idle"
    assert "skip today" in chat.text


def test_a_prompt_while_the_user_is_mid_check_in_waits_quietly_on_the_agenda(content):
    chat = trained(content)
    chat.send("/checkin")
    outcome = step(chat.state, Due("session", 1, chat_now()), chat_now(), content)
    assert outcome.replies == ()
    assert outcome.state.name == "checkin_pain"
    assert [item["kind"] for item in outcome.state.data["agenda"]][-1] == "session"


def test_today_shows_the_session_card_at_any_time(content):
    chat = trained(content)
    chat.send("/today")
    assert chat.state.name == "session"
    assert plain(chat.last[-1].text).startswith("Kneeling hip thrust")


def test_checkin_starts_a_check_in_for_the_last_session(content):
    chat = trained(content)
    chat.send("/checkin")
    assert chat.state.name == "checkin_pain"


def test_pause_cancels_prompts_and_resume_plans_them_again(content):
    chat = trained(content)
    chat.send("/pause")
    assert chat.state.name == "paused" and CancelPrompts() in chat.effects
    assert step(chat.state, Due("session", 1, chat_now()), chat_now(), content).replies == ()
    chat.send("/resume")
    assert chat.state.name == "idle"
    assert isinstance(chat.effects[-1], SchedulePrompt)


def test_programme_commands_wait_until_screening_is_done(content):
    chat = EngineChat(content)
    chat.send("hi")
    chat.send("/today")
    assert "finish the questions first" in chat.text
    assert chat.state.name == "consent"


def test_a_red_flag_in_any_free_text_stops_the_programme(content):
    chat = trained(content)
    chat.send("my leg is getting weaker and I have numbness in the saddle area")
    assert chat.state.name == "urgent_stop"
    flag = RecordRedFlag("urgent", ("saddle_numbness", "worsening_weakness"), "idle")
    assert flag in chat.effects and CancelPrompts() in chat.effects
    assert "urgent medical help" in chat.text


def test_a_negated_red_flag_in_free_text_does_not_stop_anything(content):
    chat = trained(content)
    chat.send("no numbness and no bladder problems, just a stiff back")
    assert chat.state.name == "idle"


def test_a_sticking_point_offers_another_ladder_and_a_human(content):
    chat = trained(content)
    for day in (1, 5, 9, 13):
        chat.now = chat.now + timedelta(days=4 if day > 1 else 1)
        if chat.state.name != "idle":
            chat.send("/help")
            if chat.state.name == "morning_check":
                chat.press("morning_check:same")
        chat.send("/today")
        chat.press("session:done")
        chat.send("pain 5, ok, smooth")
        chat.press("checkin_parts:fine")
    assert chat.state.name == "sticking_offer"
    assert "physiotherapist or coach" in chat.text
    offer = chat.state.data["offer"]
    chat.press("sticking_offer:yes")
    assert chat.state.data["position"] == offer
    assert "from your next session you will do" in chat.text


def test_a_stale_prompt_button_changes_nothing(content):
    chat = trained(content)
    before = chat.state
    chat.press("session_offer:start")
    assert chat.state == before
    assert "moved on" in chat.text
