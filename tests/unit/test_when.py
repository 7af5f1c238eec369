"""Moments said as people say them: today, tomorrow, on Friday, on 14 Dec, in the user's own zone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hipcoach.flows import Choice, Command, Due, render, render_all, step
from hipcoach.flows.prompts import next_session_text, prompt
from hipcoach.flows.values import SchedulePrompt
from hipcoach.flows.when import say_when
from tests.unit.test_training_flow import trained

LONDON = "Europe/London"
AUCKLAND = "Pacific/Auckland"


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_moment_later_the_same_day_is_today(content):
    monday = local(LONDON, 2026, 12, 7, 16, 52)
    assert say_when(local(LONDON, 2026, 12, 7, 18, 0), monday, LONDON, content) == "today at 18:00"


def test_a_moment_after_midnight_is_tomorrow_even_minutes_away(content):
    late = local(LONDON, 2026, 12, 7, 23, 50)
    assert say_when(late + timedelta(minutes=20), late, LONDON, content) == "tomorrow at 00:10"


def test_a_moment_late_the_same_day_is_today_seen_just_after_midnight(content):
    early = local(LONDON, 2026, 12, 8, 0, 5)
    assert say_when(local(LONDON, 2026, 12, 8, 23, 0), early, LONDON, content) == "today at 23:00"


def test_a_moment_later_this_week_is_said_by_its_weekday(content):
    tuesday = local(LONDON, 2026, 12, 8, 9, 0)
    assert say_when(local(LONDON, 2026, 12, 11, 7, 30), tuesday, LONDON, content) == "on Friday at 07:30"
    assert say_when(local(LONDON, 2026, 12, 14, 18, 0), tuesday, LONDON, content) == "on Monday at 18:00"


def test_a_moment_a_week_or_more_away_is_said_by_its_date(content):
    monday = local(LONDON, 2026, 12, 7, 9, 0)
    assert say_when(local(LONDON, 2026, 12, 14, 18, 0), monday, LONDON, content) == "on 14 Dec at 18:00"
    assert say_when(local(LONDON, 2027, 1, 4, 7, 5), monday, LONDON, content) == "on 4 Jan at 07:05"


def test_a_moment_already_past_is_said_by_its_date(content):
    monday = local(LONDON, 2026, 12, 7, 9, 0)
    assert say_when(local(LONDON, 2026, 12, 6, 18, 0), monday, LONDON, content) == "on 6 Dec at 18:00"


def test_the_same_instants_are_today_in_utc_and_tomorrow_in_auckland(content):
    now, moment = utc(2026, 12, 1, 8, 0), utc(2026, 12, 1, 12, 0)  # Auckland (NZDT, +13): 21:00 and 01:00
    assert say_when(moment, now, "UTC", content) == "today at 12:00"
    assert say_when(moment, now, AUCKLAND, content) == "tomorrow at 01:00"


def test_auckland_names_its_own_weekday_for_the_same_instant(content):
    now = utc(2026, 12, 4, 11, 30)  # Fri 11:30 UTC, Sat 00:30 in Auckland
    moment = utc(2026, 12, 4, 20, 0)  # Fri 20:00 UTC, Sat 09:00 in Auckland
    assert say_when(moment, now, "UTC", content) == "today at 20:00"
    assert say_when(moment, now, AUCKLAND, content) == "today at 09:00"
    assert say_when(utc(2026, 12, 10, 20, 0), now, "UTC", content) == "on Thursday at 20:00"
    assert say_when(utc(2026, 12, 10, 20, 0), now, AUCKLAND, content) == "on Friday at 09:00"


def test_local_dates_count_on_the_day_clocks_go_forward(content):
    # London springs forward on Sunday 29 March 2026: from Saturday 23:30 to Monday 00:15 is 23 h 45 min,
    # yet it is two calendar days away.
    saturday = local(LONDON, 2026, 3, 28, 23, 30)
    monday = local(LONDON, 2026, 3, 30, 0, 15)
    assert monday.astimezone(UTC) - saturday.astimezone(UTC) < timedelta(days=1)
    assert say_when(monday, saturday, LONDON, content) == "on Monday at 00:15"
    assert say_when(local(LONDON, 2026, 3, 29, 18, 0), saturday, LONDON, content) == "tomorrow at 18:00"


def test_local_dates_count_on_the_day_clocks_go_back(content):
    # London falls back on Sunday 25 October 2026: Saturday 18:00 to Sunday 18:00 is 25 hours.
    saturday = local(LONDON, 2026, 10, 24, 18, 0)
    sunday = local(LONDON, 2026, 10, 25, 18, 0)
    assert sunday.astimezone(UTC) - saturday.astimezone(UTC) == timedelta(hours=25)
    assert say_when(sunday, saturday, LONDON, content) == "tomorrow at 18:00"


def test_auckland_says_the_wall_clock_time_on_its_own_change_day(content):
    # Auckland leaves summer time on Sunday 5 April 2026 (03:00 NZDT becomes 02:00 NZST).
    saturday = utc(2026, 4, 4, 5, 0)  # Sat 18:00 NZDT
    sunday = utc(2026, 4, 5, 6, 0)  # Sun 18:00 NZST
    assert say_when(sunday, saturday, AUCKLAND, content) == "tomorrow at 18:00"


# --- the coach says it ---------------------------------------------------------------------------


def plan(zone: str) -> dict:
    return {"schedule": {"days": [0, 2, 4], "time": "18:00", "zone": zone}}


def test_on_monday_afternoon_the_next_session_is_today_not_mon(content):
    monday = local(LONDON, 2026, 12, 7, 16, 52)
    assert next_session_text(plan(LONDON), content, monday) == "today at 18:00"


def test_the_next_session_is_said_in_the_users_zone(content):
    now = utc(2026, 12, 4, 11, 30)  # Friday in UTC; already Saturday in Auckland
    assert next_session_text(plan("UTC"), content, now) == "today at 18:00"
    assert next_session_text(plan(AUCKLAND), content, now) == "on Monday at 18:00"


def test_the_schedule_confirmation_says_when_the_first_session_is(content):
    draft = {"days": [0], "time": "18:00", "zone": LONDON, "summary_day": 6}
    asked = render(
        prompt("schedule_confirm", {"draft": draft}, content, local(LONDON, 2026, 12, 7, 16, 52)), content
    )
    assert "Your first session would be today at 18:00." in asked.text


def snoozed_at(content, now: datetime, minutes: int):
    """A trained user (Mon/Wed/Fri 18:00 UTC) offered a session at `now`, who snoozes it."""
    state = step(trained(content).state, Due("session", 1, now), now, content).state
    return step(state, Choice(f"session_offer:snooze_{minutes}"), now, content)


def test_snooze_and_the_next_session_name_the_same_moment(content):
    friday = utc(2026, 12, 4, 18, 1)
    outcome = snoozed_at(content, friday, 30)
    text = "\n".join(m.text for m in render_all(outcome.replies, content))
    assert SchedulePrompt("snooze", utc(2026, 12, 4, 18, 31)) in outcome.effects
    assert "Okay, I will remind you today at 18:31." in text
    assert "Your next session is today at 18:31." in text


def test_a_snooze_into_the_night_comes_back_tomorrow_and_both_messages_say_so(content):
    late = utc(2026, 12, 4, 21, 45)
    outcome = snoozed_at(content, late, 30)
    text = "\n".join(m.text for m in render_all(outcome.replies, content))
    assert SchedulePrompt("snooze", utc(2026, 12, 5, 7, 0)) in outcome.effects
    assert "remind you tomorrow at 07:00." in text
    assert "Your next session is tomorrow at 07:00." in text


def test_once_a_snooze_has_passed_the_next_session_is_the_schedules_again(content):
    friday = utc(2026, 12, 4, 18, 1)
    state = snoozed_at(content, friday, 30).state
    assert next_session_text(state.data, content, utc(2026, 12, 4, 19, 0)) == "on Monday at 18:00"


def test_pausing_forgets_the_snooze_with_the_prompts(content):
    friday = utc(2026, 12, 4, 18, 1)
    paused = step(snoozed_at(content, friday, 30).state, Command("pause"), friday, content)
    assert "snoozed" not in paused.state.data
