"""Schedule arithmetic: days, times and zones read from text; due times in UTC across DST changes."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hipcoach.content.schedule_schema import QuietHours, ScheduleSettings
from hipcoach.flows.schedule import (
    find_zone,
    in_quiet_hours,
    is_within_grace,
    local_time_in,
    morning_check_due,
    next_session_due,
    parse_days,
    parse_time,
    respect_quiet_hours,
    snooze_until,
    to_utc,
)

SCHEDULE_YAML = Path(__file__).resolve().parents[2] / "content" / "data" / "schedule.yaml"
RAW = yaml.safe_load(SCHEDULE_YAML.read_text(encoding="utf-8"))
SETTINGS = ScheduleSettings.model_validate(RAW)
QUIET = QuietHours(start="22:00", end="07:00")
MON_WED_FRI = (0, 2, 4)
LONDON, NEW_YORK = "Europe/London", "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))


def exists(day: date, at: time, zone: str) -> bool:
    wall = datetime.combine(day, at)
    return (
        wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        == wall
    )


def sessions(days, at: time, zone: str, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_session_due(days, at, zone, after)
        found.append(after)
    return found


# --- the content file ---------------------------------------------------------------------------


def test_the_shipped_schedule_content_has_the_defaults_the_issue_names():
    assert SETTINGS.quiet_hours == QUIET
    assert SETTINGS.grace_minutes == 120
    assert SETTINGS.snooze_minutes == [30, 120]
    assert SETTINGS.morning_check == time(8, 0)
    assert {p.id: tuple(p.days) for p in SETTINGS.presets}["mon_wed_fri"] == MON_WED_FRI


def test_every_preset_reads_back_from_its_own_id():
    for preset in SETTINGS.presets:
        assert parse_days(preset.id, SETTINGS) == tuple(sorted(preset.days))


def test_every_time_preset_reads_back_from_its_own_text():
    for at in SETTINGS.time_presets:
        assert parse_time(at.strftime("%H:%M")) == at


def broken(change) -> dict:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("an unquoted time, which YAML 1.1 reads as a number", lambda r: r.update(morning_check=480)),
        ("a time that is not HH:MM", lambda r: r.update(time_presets=["7:30pm"])),
        ("an hour past 23", lambda r: r["quiet_hours"].update(start="24:00")),
        ("an unknown zone", lambda r: r["zone_aliases"].update(atlantis="Atlantis/Capital")),
        ("a weekday above 6", lambda r: r["presets"].append({"id": "bad", "days": [7]})),
        ("no presets", lambda r: r.update(presets=[])),
        ("a preset without days", lambda r: r["presets"].append({"id": "none", "days": []})),
        ("an unknown field", lambda r: r.update(snooze="30")),
        ("a missing weekday", lambda r: r["day_words"].pop(6)),
        ("a word naming two days", lambda r: r["day_words"][1].append("mon")),
        ("a preset time inside quiet hours", lambda r: r["time_presets"].append("23:00")),
        ("an offset its zone never uses", lambda r: r["offset_zones"].update({"+05:30": "Europe/London"})),
        ("an upper-case alias", lambda r: r["zone_aliases"].update({"NYC": "America/New_York"})),
        ("empty quiet hours", lambda r: r.update(quiet_hours={"start": "07:00", "end": "07:00"})),
    ],
)
def test_schedule_content_with_a_mistake_fails_to_load(what, change):
    with pytest.raises(ValidationError):
        ScheduleSettings.model_validate(broken(change))


def test_schedule_settings_are_frozen():
    with pytest.raises(ValidationError):
        SETTINGS.grace_minutes = 5


# --- days ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon wed fri", (0, 2, 4)),
        ("Monday, Wednesday and Friday", (0, 2, 4)),
        ("tuesdays and thursdays", (1, 3)),
        ("Tue/Thu/Sat", (1, 3, 5)),
        ("friday monday friday", (0, 4)),
        ("weekdays", (0, 1, 2, 3, 4)),
        ("Weekends", (5, 6)),
        ("every day", (0, 1, 2, 3, 4, 5, 6)),
        ("daily please", (0, 1, 2, 3, 4, 5, 6)),
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("Mon – Fri", (0, 1, 2, 3, 4)),
        ("monday to thursday", (0, 1, 2, 3)),
        ("fri-mon", (0, 4, 5, 6)),
        ("mon-wed-fri", (0, 2, 4)),
        ("every day except sunday", (0, 1, 2, 3, 4, 5)),
        ("weekdays but not wednesday", (0, 1, 3, 4)),
        ("weekends and wednesdays", (2, 5, 6)),
        ("MONDAY's fine, and thurs", (0, 3)),
        ("mon_thu", (0, 3)),
    ],
)
def test_days_are_read_from_many_phrasings(text, days):
    assert parse_days(text, SETTINGS) == days


@pytest.mark.parametrize("text", ["", "whenever", "three times a week", "sunday except sunday", "not sunday"])
def test_text_naming_no_day_reads_as_none(text):
    assert parse_days(text, SETTINGS) is None


# --- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("18:00", time(18, 0)),
        ("6pm", time(18, 0)),
        ("6 pm", time(18, 0)),
        ("6 P.M.", time(18, 0)),
        ("6:30pm", time(18, 30)),
        ("6.30 pm", time(18, 30)),
        ("730pm", time(19, 30)),
        ("7am", time(7, 0)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("7.30", time(7, 30)),
        ("07:30", time(7, 30)),
        ("18h30", time(18, 30)),
        ("18h", time(18, 0)),
        ("0730", time(7, 30)),
        ("1830", time(18, 30)),
        ("18", time(18, 0)),
        ("7", time(7, 0)),
        ("at 6pm please", time(18, 0)),
        ("every day at 18:15", time(18, 15)),
        ("noon", time(12, 0)),
        ("Midday", time(12, 0)),
        ("around midnight", time(0, 0)),
    ],
)
def test_times_are_read_from_many_phrasings(text, at):
    assert parse_time(text, SETTINGS) == at


@pytest.mark.parametrize(
    "text", ["25:00", "24:00", "18:60", "13pm", "0am", "later", "", "after work", "6 in the evening", "99999"]
)
def test_text_without_a_real_time_reads_as_none(text):
    assert parse_time(text, SETTINGS) is None


def test_named_times_need_the_content_vocabulary():
    assert parse_time("noon") is None
    assert parse_time("6pm") == time(18, 0)


# --- zones --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("europe/london", LONDON),
        ("Europe/London", LONDON),
        ("America/New York", NEW_YORK),
        ("London", LONDON),
        ("new york", NEW_YORK),
        ("NYC", NEW_YORK),
        ("Sao Paulo", "America/Sao_Paulo"),
        ("São Paulo", "America/Sao_Paulo"),
        ("port-au-prince", "America/Port-au-Prince"),
        ("St. John's", "America/St_Johns"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("I live in Chicago", "America/Chicago"),
        ("I'm in los angeles, near the beach", "America/Los_Angeles"),
        ("my zone is Europe/Berlin.", "Europe/Berlin"),
        ("uk", LONDON),
        ("England", LONDON),
        ("gb", LONDON),
        ("la", "America/Los_Angeles"),
        ("SF", "America/Los_Angeles"),
        ("india", "Asia/Kolkata"),
        ("Mumbai", "Asia/Kolkata"),
        ("germany", "Europe/Berlin"),
        ("spain", "Europe/Madrid"),
        ("australia", "Australia/Sydney"),
        ("Moscow", "Europe/Moscow"),
        ("new jersey", NEW_YORK),
        ("EST", NEW_YORK),
        ("west london", LONDON),
        ("Pacific/Easter", "Pacific/Easter"),
        ("Kiritimati", "Pacific/Kiritimati"),
        ("utc", "UTC"),
    ],
)
def test_zones_are_found_from_names_cities_and_aliases(text, zone):
    assert find_zone(text, SETTINGS) == zone


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


@pytest.mark.parametrize(
    ("text", "zone", "offset"),
    [
        ("UTC+2", "Etc/GMT-2", hours(2)),
        ("utc +1", "Etc/GMT-1", hours(1)),
        ("GMT-5", "Etc/GMT+5", hours(-5)),
        ("gmt − 5", "Etc/GMT+5", hours(-5)),
        ("-3", "Etc/GMT+3", hours(-3)),
        ("+10", "Etc/GMT-10", hours(10)),
        ("UTC+02:00", "Etc/GMT-2", hours(2)),
        ("utc+0", "Etc/UTC", hours(0)),
        ("I'm on UTC-8", "Etc/GMT+8", hours(-8)),
        ("UTC+14", "Etc/GMT-14", hours(14)),
        ("UTC-12", "Etc/GMT+12", hours(-12)),
        ("+05:30", "Asia/Kolkata", hours(5.5)),
        ("+0530", "Asia/Kolkata", hours(5.5)),
        ("utc+5:45", "Asia/Kathmandu", hours(5.75)),
        ("+09:30", "Australia/Darwin", hours(9.5)),
        ("-03:30", "America/St_Johns", hours(-3.5)),
    ],
)
def test_a_utc_offset_becomes_a_zone_with_that_offset_and_the_posix_sign_inverted(text, zone, offset):
    assert find_zone(text, SETTINGS) == zone
    assert utc(2026, 1, 15).astimezone(ZoneInfo(zone)).utcoffset() == offset


@pytest.mark.parametrize(
    "text", ["UTC+15", "utc-13", "+07:30", "+05:99", "atlantis", "", "later", "west", "easter", "3"]
)
def test_impossible_or_unknown_zones_read_as_none(text):
    assert find_zone(text, SETTINGS) is None


def test_a_long_reply_is_read_for_a_zone_only_as_far_as_its_first_200_characters():
    chatter = " and some more words about my week" * 100
    assert find_zone("I live in Sao Paulo" + chatter, SETTINGS) == "America/Sao_Paulo"
    assert find_zone(chatter + " I live in Sao Paulo", SETTINGS) is None


# --- local and UTC ------------------------------------------------------------------------------


def test_local_time_in_shows_the_wall_clock_of_the_zone():
    assert local_time_in(LONDON, utc(2026, 7, 1, 17)).hour == 18
    assert local_time_in("Asia/Kolkata", utc(2026, 7, 1, 0)).time() == time(5, 30)


def test_local_time_in_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        local_time_in(LONDON, datetime(2026, 7, 1, 17))


def test_to_utc_returns_an_aware_utc_datetime():
    due = to_utc(date(2026, 7, 1), time(18, 0), LONDON)
    assert due == utc(2026, 7, 1, 17)
    assert due.tzinfo is UTC


# --- daylight saving ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # London springs forward on Sunday 2026-03-29: GMT (UTC+0) -> BST (UTC+1).
        (LONDON, utc(2026, 3, 25, 18), [utc(2026, 3, 27, 18), utc(2026, 3, 30, 17), utc(2026, 4, 1, 17)]),
        # London falls back on Sunday 2026-10-25: BST -> GMT.
        (
            LONDON,
            utc(2026, 10, 21, 17),
            [utc(2026, 10, 23, 17), utc(2026, 10, 26, 18), utc(2026, 10, 28, 18)],
        ),
        # New York springs forward on Sunday 2026-03-08: EST (UTC-5) -> EDT (UTC-4).
        (NEW_YORK, utc(2026, 3, 4, 23), [utc(2026, 3, 6, 23), utc(2026, 3, 9, 22), utc(2026, 3, 11, 22)]),
        # New York falls back on Sunday 2026-11-01: EDT -> EST.
        (
            NEW_YORK,
            utc(2026, 10, 28, 22),
            [utc(2026, 10, 30, 22), utc(2026, 11, 2, 23), utc(2026, 11, 4, 23)],
        ),
    ],
)
def test_a_mon_wed_fri_6pm_schedule_stays_at_6pm_local_across_a_clock_change(zone, after, expected):
    found = sessions(MON_WED_FRI, time(18, 0), zone, after, 3)
    assert found == expected
    assert [local_time_in(zone, due).time() for due in found] == [time(18, 0)] * 3
    assert [local_time_in(zone, due).weekday() for due in found] == [4, 0, 2]
    assert all(due.tzinfo is UTC for due in found)


def test_a_time_in_the_spring_forward_gap_moves_forward_by_the_gap_in_new_york():
    due = to_utc(date(2026, 3, 8), time(2, 30), NEW_YORK)
    assert due == utc(2026, 3, 8, 7, 30)
    assert local_time_in(NEW_YORK, due).time() == time(3, 30)


def test_a_time_in_the_spring_forward_gap_moves_forward_by_the_gap_in_london():
    due = to_utc(date(2026, 3, 29), time(1, 30), LONDON)
    assert local_time_in(LONDON, due).time() == time(2, 30)
    assert to_utc(date(2026, 3, 29), time(2, 30), LONDON) == utc(2026, 3, 29, 1, 30)


def test_a_sunday_session_at_2_30_on_the_spring_forward_day_is_sent_at_3_30_local():
    due = next_session_due([6], time(2, 30), NEW_YORK, utc(2026, 3, 7, 12))
    assert due == utc(2026, 3, 8, 7, 30)
    assert next_session_due([6], time(2, 30), NEW_YORK, due) == utc(2026, 3, 15, 6, 30)


@pytest.mark.parametrize(
    ("zone", "day", "at", "lands"),
    [
        ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), time(2, 45)),  # a 30-minute gap
        ("America/Santiago", date(2026, 9, 6), time(0, 30), time(1, 30)),  # a gap at midnight
    ],
)
def test_unusual_gaps_also_move_forward_by_their_own_size(zone, day, at, lands):
    wall = local_time_in(zone, to_utc(day, at, zone))
    assert (wall.date(), wall.time()) == (day, lands)


@pytest.mark.parametrize(
    ("zone", "day", "first"),
    [
        (LONDON, date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        (NEW_YORK, date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),
    ],
)
def test_an_ambiguous_1_30_on_the_fall_back_day_means_its_first_occurrence(zone, day, first):
    assert to_utc(day, time(1, 30), zone) == first
    assert to_utc(day, time(1, 30, fold=1), zone) == first
    assert next_session_due([6], time(1, 30), zone, first - timedelta(hours=6)) == first
    assert next_session_due([6], time(1, 30), zone, first) > first + timedelta(days=6)


def test_the_morning_check_follows_the_clock_change():
    assert morning_check_due(utc(2026, 3, 28, 18), LONDON, time(8, 0)) == utc(2026, 3, 29, 7)
    assert morning_check_due(utc(2026, 10, 24, 17), LONDON, time(8, 0)) == utc(2026, 10, 25, 8)


# --- next session -------------------------------------------------------------------------------


def test_the_next_session_is_strictly_after_the_given_moment():
    session = utc(2026, 12, 2, 18)  # Wednesday 18:00 in London
    assert next_session_due(MON_WED_FRI, time(18, 0), LONDON, session - timedelta(microseconds=1)) == session
    assert next_session_due(MON_WED_FRI, time(18, 0), LONDON, session) == utc(2026, 12, 4, 18)


def test_a_session_later_today_is_today():
    assert next_session_due(MON_WED_FRI, time(18, 0), LONDON, utc(2026, 12, 2, 8)) == utc(2026, 12, 2, 18)


def test_a_single_training_day_comes_round_a_week_later():
    wednesday = utc(2026, 12, 2, 18)
    assert next_session_due([2], time(18, 0), LONDON, wednesday) == wednesday + timedelta(days=7)


def test_next_session_needs_at_least_one_weekday():
    with pytest.raises(ValueError):
        next_session_due([], time(18, 0), LONDON, utc(2026, 12, 2, 8))


def test_next_session_refuses_a_naive_moment():
    with pytest.raises(ValueError):
        next_session_due(MON_WED_FRI, time(18, 0), LONDON, datetime(2026, 12, 2, 8))


# --- near the date line -------------------------------------------------------------------------


def test_auckland_sessions_fall_on_the_previous_utc_day():
    # Monday 2026-06-01 12:00 in Auckland (NZST, UTC+12) is Monday 00:00 UTC.
    due = next_session_due(MON_WED_FRI, time(7, 30), "Pacific/Auckland", utc(2026, 6, 1, 0))
    assert due == utc(2026, 6, 2, 19, 30)  # Wednesday 07:30 NZST is Tuesday in UTC
    assert due.weekday() == 1
    assert local_time_in("Pacific/Auckland", due).weekday() == 2


def test_auckland_keeps_its_local_time_when_summer_time_ends():
    # New Zealand leaves daylight time (UTC+13 -> UTC+12) on Sunday 2026-04-05.
    found = sessions(MON_WED_FRI, time(18, 0), "Pacific/Auckland", utc(2026, 4, 1, 12), 2)
    assert found == [utc(2026, 4, 3, 5), utc(2026, 4, 6, 6)]


def test_kiritimati_at_utc_plus_14_trains_on_its_own_calendar_day():
    due = next_session_due(MON_WED_FRI, time(7, 30), "Pacific/Kiritimati", utc(2026, 6, 1, 0))
    assert due == utc(2026, 6, 2, 17, 30)
    assert local_time_in("Pacific/Kiritimati", due) == local("Pacific/Kiritimati", 2026, 6, 3, 7, 30)
    assert morning_check_due(due, "Pacific/Kiritimati", time(8, 0)) == utc(2026, 6, 3, 18)


def test_a_day_the_zone_skipped_has_no_session():
    # Samoa jumped the date line: Friday 2011-12-30 never happened in Pacific/Apia.
    due = next_session_due([4], time(18, 0), "Pacific/Apia", utc(2011, 12, 29, 0))
    assert local_time_in("Pacific/Apia", due).date() == date(2012, 1, 6)


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(3, 0), True),
        (time(6, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_cross_midnight(at, quiet):
    assert in_quiet_hours(at, QUIET) is quiet


def test_quiet_hours_within_one_day_are_supported_too():
    siesta = QuietHours(start="13:00", end="15:00")
    assert in_quiet_hours(time(14, 0), siesta)
    assert not in_quiet_hours(time(15, 0), siesta)
    assert not in_quiet_hours(time(23, 0), siesta)
    due = to_utc(date(2026, 12, 2), time(14, 0), LONDON)
    assert respect_quiet_hours(due, LONDON, siesta, None) == utc(2026, 12, 2, 15)


def test_a_prompt_due_late_in_the_evening_moves_to_7_the_next_morning():
    due = utc(2026, 12, 2, 23, 30)
    assert respect_quiet_hours(due, LONDON, QUIET, time(18, 0)) == utc(2026, 12, 3, 7)


def test_a_prompt_due_after_midnight_moves_to_7_the_same_morning():
    due = to_utc(date(2026, 7, 2), time(3, 0), LONDON)
    assert respect_quiet_hours(due, LONDON, QUIET, time(18, 0)) == utc(2026, 7, 2, 6)  # 07:00 BST


def test_a_prompt_outside_quiet_hours_is_left_alone():
    due = utc(2026, 12, 2, 18)
    assert respect_quiet_hours(due, LONDON, QUIET, None) == due


def test_a_time_the_user_chose_inside_quiet_hours_is_respected():
    due = to_utc(date(2026, 12, 2), time(22, 30), LONDON)
    assert respect_quiet_hours(due, LONDON, QUIET, time(22, 30)) == due
    assert next_session_due([2], time(22, 30), LONDON, utc(2026, 12, 1)) == due


def test_a_snooze_into_quiet_hours_moves_to_7_local():
    winter = snooze_until(utc(2026, 12, 2, 21), 120, LONDON, QUIET, time(18, 0))
    assert winter == utc(2026, 12, 3, 7)
    summer = snooze_until(utc(2026, 7, 2, 20), 120, LONDON, QUIET, time(18, 0))
    assert summer == utc(2026, 7, 3, 6)
    assert local_time_in(LONDON, summer).time() == time(7, 0)


def test_a_snooze_into_quiet_hours_on_the_spring_forward_night_lands_at_7_daylight_time():
    now = local(NEW_YORK, 2026, 3, 7, 21, 30).astimezone(UTC)
    assert snooze_until(now, 120, NEW_YORK, QUIET, None) == utc(2026, 3, 8, 11)


def test_a_snooze_outside_quiet_hours_is_plain_arithmetic():
    assert snooze_until(utc(2026, 12, 2, 18), 30, LONDON, QUIET, time(18, 0)) == utc(2026, 12, 2, 18, 30)


def test_a_snooze_stays_in_quiet_hours_when_the_user_chose_a_quiet_time():
    now = utc(2026, 12, 2, 22, 30)
    assert snooze_until(now, 30, LONDON, QUIET, time(22, 30)) == utc(2026, 12, 2, 23)


# --- morning check ------------------------------------------------------------------------------


def test_the_morning_check_is_the_morning_after_the_session_in_local_time():
    assert morning_check_due(utc(2026, 12, 2, 18), LONDON, time(8, 0)) == utc(2026, 12, 3, 8)
    late = to_utc(date(2026, 12, 2), time(23, 30), NEW_YORK)  # already Thursday in UTC
    assert morning_check_due(late, NEW_YORK, time(8, 0)) == utc(2026, 12, 3, 13)


# --- grace window -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("late", "inside"),
    [
        (timedelta(seconds=-1), False),
        (timedelta(0), True),
        (timedelta(minutes=119, seconds=59), True),
        (timedelta(minutes=120), True),
        (timedelta(minutes=120, microseconds=1), False),
        (timedelta(days=1), False),
    ],
)
def test_a_missed_prompt_is_sent_only_inside_the_grace_window(late, inside):
    due = utc(2026, 12, 2, 18)
    assert is_within_grace(due, due + late, 120) is inside


# --- property -----------------------------------------------------------------------------------

ZONES = [
    LONDON,
    NEW_YORK,
    "Europe/Dublin",  # negative daylight saving in the tz database
    "Pacific/Auckland",
    "Pacific/Kiritimati",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Australia/Lord_Howe",  # 30-minute daylight saving
    "America/Santiago",  # changes at midnight
    "America/Havana",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Africa/Casablanca",
    "UTC",
]


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    days=st.sets(st.integers(0, 6), min_size=1),
    at=st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59])),
    after=st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_the_next_session_is_after_the_moment_on_a_chosen_day_at_the_chosen_local_time(zone, days, at, after):
    due = next_session_due(days, at, zone, after)
    wall = local_time_in(zone, due)

    assert due > after
    assert due.tzinfo is UTC
    assert wall.weekday() in days
    asked = datetime.combine(wall.date(), at)
    if wall.time() != at:  # only when the chosen time fell in a gap, moved forward by that gap
        assert not exists(wall.date(), at, zone)
        assert timedelta(0) < wall.replace(tzinfo=None) - asked <= timedelta(hours=2)
    # No earlier chosen day would have done.
    day = local_time_in(zone, after).date() - timedelta(days=1)
    while day < wall.date():
        if day.weekday() in days:
            earlier = to_utc(day, at, zone)
            assert earlier <= after or local_time_in(zone, earlier).date() != day
        day += timedelta(days=1)
