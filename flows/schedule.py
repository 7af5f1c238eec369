"""Schedule arithmetic: reading days, times and zones from text, and computing due times in UTC.

Pure: `now` is always passed in. Local wall-clock times become UTC through zoneinfo with PEP 495
semantics (fold=0): a time that does not exist (clocks spring forward) moves forward by the gap,
02:30 becomes 03:30; a time that happens twice (clocks fall back) means its first occurrence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from hipcoach.content.schedule_schema import QuietHours, ScheduleSettings

# tz database areas whose last name part is a place ("Europe/London"); other names are legacy
# ("US/Eastern", "GB") or fixed offsets ("Etc/GMT-2") and are found only by their full name.
_PLACE_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)
_NOT_ZONES = frozenset({"Factory", "localtime"})
_TOKEN = re.compile(r"[a-z0-9]+|-")
_WORD = re.compile(r"[a-z0-9]+")
_AM_PM = re.compile(r"(?<![a-z])([ap])\.?\s?m\b\.?")
_CLOCK = re.compile(
    r"(?<![\d:.])(?:(?P<h>\d{1,2})\s?[:.h]\s?(?P<m>\d{2})|(?P<d>\d{1,4})(?=\s*(?:am|pm|h)\b))"
    r"\s*(?P<s>am|pm|h)?\b"
)
_BARE = re.compile(r"\W*(\d{1,4})\W*")
_OFFSET = re.compile(r"(?:(?<![a-z])(?:utc|gmt)\s*|^)([+-])\s*(\d{1,2})(?:[:.h]?(\d{2}))?(?![\d:])")
_MAX_DAYS_AHEAD = 15  # a week, plus a day a zone skipped (Pacific/Apia, 2011-12-30), plus slack
ZONE_ANSWER_MAX = 200  # characters of a reply read for a zone: a place or offset comes early


def _fold(text: str) -> str:
    """Lower-case without accents or apostrophes, with every kind of dash written '-'."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    plain = re.sub(r"['’`]", "", plain.lower())
    return re.sub(r"[‐-―−]", "-", plain)


def _longest(words: Sequence[str], start: int, phrases: Iterable[tuple[str, ...]]) -> int:
    """The length in words of the longest phrase found at `start`, or 0."""
    return max((len(p) for p in phrases if tuple(words[start : start + len(p)]) == p), default=0)


# --- days ---------------------------------------------------------------------------------------


def parse_days(text: str, settings: ScheduleSettings) -> tuple[int, ...] | None:
    """Training weekdays (0 = Monday) named in free text, sorted; None when no day is recognised.

    Reads day words ("tue", "thursdays"), groups ("weekdays", "every day"), ranges ("mon-fri",
    "monday to thursday", wrapping round the weekend), hyphen lists ("mon-wed-fri") and exceptions
    ("every day except sunday").
    """
    words = _TOKEN.findall(_fold(text))
    day_of = {word: day for day, names in settings.day_words.items() for word in names}
    groups = {tuple(phrase.split()): days for phrase, days in settings.day_groups.items()}
    ranges = [tuple(_TOKEN.findall(word)) for word in settings.range_words]
    excepts = [tuple(phrase.split()) for phrase in settings.except_words]
    chosen: set[int] = set()
    removed: set[int] = set()
    target, i = chosen, 0
    while i < len(words):
        if size := _longest(words, i, excepts):
            target, i = removed, i + size
        elif size := _longest(words, i, groups):
            target.update(groups[tuple(words[i : i + size])])
            i += size
        elif words[i] in day_of:
            days, i = _day_run(words, i, day_of, ranges)
            target.update(days)
        else:
            i += 1
    days = sorted(chosen - removed)
    return tuple(days) or None


def _day_run(
    words: Sequence[str], i: int, day_of: dict[str, int], ranges: list[tuple[str, ...]]
) -> tuple[list[int], int]:
    """The days named from word `i` on (one day, a range, or a hyphen list) and the next index."""
    chain, j = [day_of[words[i]]], i
    while j + 2 < len(words) and words[j + 1] == "-" and words[j + 2] in day_of:
        chain.append(day_of[words[j + 2]])
        j += 2
    if len(chain) > 2:  # "mon-wed-fri" is a list, not a range
        return chain, j + 1
    size = _longest(words, i + 1, ranges)
    end = i + 1 + size
    if size and end < len(words) and words[end] in day_of:
        first, last = day_of[words[i]], day_of[words[end]]
        return [(first + k) % 7 for k in range((last - first) % 7 + 1)], end + 1
    return chain[:1], i + 1


# --- times --------------------------------------------------------------------------------------


def parse_time(text: str, settings: ScheduleSettings | None = None) -> time | None:
    """A time of day from free text, or None when there is none or it is not a real time.

    Reads "18:00", "7.30" and "18h30" (24-hour), "6pm", "6 p.m.", "6:30pm", "730pm", "18h", a bare
    number as the whole reply ("18", "0730", "7" = 07:00), and named times from settings ("noon").
    """
    folded = _AM_PM.sub(r"\1m", _fold(text))
    if match := _CLOCK.search(folded):
        if match["d"]:
            hours, minutes = _split_digits(match["d"])
        else:
            hours, minutes = int(match["h"]), int(match["m"])
        return _valid_time(hours, minutes, match["s"])
    words = _WORD.findall(folded)
    if settings is not None:
        named = {tuple(phrase.split()): clock for phrase, clock in settings.time_words.items()}
        for i in range(len(words)):
            if size := _longest(words, i, named):
                return named[tuple(words[i : i + size])]
    if match := _BARE.fullmatch(folded):
        return _valid_time(*_split_digits(match[1]), None)
    return None


def _split_digits(digits: str) -> tuple[int, int]:
    """'7' -> 7:00, '18' -> 18:00, '730' -> 7:30, '0730' -> 7:30."""
    if len(digits) <= 2:
        return int(digits), 0
    return int(digits[:-2]), int(digits[-2:])


def _valid_time(hours: int, minutes: int, suffix: str | None) -> time | None:
    if minutes > 59:
        return None
    if suffix in ("am", "pm"):
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if suffix == "pm" else 0)
    return time(hours, minutes) if hours <= 23 else None


# --- zones --------------------------------------------------------------------------------------


@cache
def _zone_index() -> tuple[dict[str, str], dict[str, str], int]:
    """Every zone by its lower-cased name, place zones by their last part ('new york'), and the
    longest place name in words."""
    names = available_timezones() - _NOT_ZONES
    exact = {name.lower(): name for name in names}
    places: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (-n.count("/"), n)):  # America/Argentina/... first
        area, _, place = name.rpartition("/")
        if area.split("/")[0] in _PLACE_AREAS:
            places.setdefault(" ".join(_WORD.findall(place.lower())), name)
    return exact, places, max(len(place.split()) for place in places)


def find_zone(text: str, settings: ScheduleSettings) -> str | None:
    """An IANA zone name from a reply: an alias, a full zone name, a UTC offset, or a place name.

    Aliases come first (so content settles "gb" or "est"); then a full name in any case
    ("europe/london"); then an offset ("UTC+2", "gmt -5", "+05:30", "-3": whole hours become
    Etc/GMT-2 style, minutes need an `offset_zones` entry, beyond UTC-12..UTC+14 is None); then
    the longest place name or alias anywhere in the text ("I live in Sao Paulo"). Only the first
    ZONE_ANSWER_MAX characters are read, and phrases are looked up by word n-grams no longer than
    the longest name, so the time is linear in the reply, however long.
    """
    folded = " ".join(_fold(text[:ZONE_ANSWER_MAX]).split())
    words = _WORD.findall(folded)
    exact, places, longest_place = _zone_index()
    aliases = settings.zone_aliases
    if (whole := " ".join(words)) in aliases:
        return aliases[whole]
    if zone := exact.get(folded.replace(" ", "_")):
        return zone
    if match := _OFFSET.search(folded):
        return _offset_zone(match, settings)
    named = (exact.get(token.strip(".,;:!?()")) for token in folded.split() if "/" in token)
    if zone := next((z for z in named if z), None):
        return zone
    ignored = set(settings.zone_ignore_words)
    longest = max([longest_place, *(len(alias.split()) for alias in aliases)])
    for size in range(min(longest, len(words)), 0, -1):
        for i in range(len(words) - size + 1):
            phrase = " ".join(words[i : i + size])
            if phrase in aliases:
                return aliases[phrase]
            if phrase in places and phrase not in ignored:
                return places[phrase]
    return None


def _offset_zone(match: re.Match[str], settings: ScheduleSettings) -> str | None:
    """The zone for a typed UTC offset; None when it cannot exist or has no zone in content."""
    sign, hours, minutes = match[1], int(match[2]), int(match[3] or 0)
    total = (hours * 60 + minutes) * (-1 if sign == "-" else 1)
    if minutes > 59 or not -12 * 60 <= total <= 14 * 60:
        return None
    if minutes:
        return settings.offset_zones.get(f"{sign}{hours:02d}:{minutes:02d}")
    if not hours:
        return "Etc/UTC"
    return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"  # POSIX names invert the sign


# --- instants -----------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expected an aware datetime")
    return moment


def local_time_in(zone: str, utc_dt: datetime) -> datetime:
    """The wall-clock time in `zone` at an aware instant."""
    return _aware(utc_dt).astimezone(ZoneInfo(zone))


def to_utc(local_date: date, local_time: time, zone: str) -> datetime:
    """The UTC instant of a local date and time: a gap moves forward, an overlap takes the first."""
    wall = datetime.combine(local_date, local_time.replace(tzinfo=None, fold=0))
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def next_session_due(days: Collection[int], at: time, zone: str, after: datetime) -> datetime:
    """The first training day at time `at` in `zone` strictly after `after`, in UTC.

    A local date the zone skipped altogether (Pacific/Apia on 2011-12-30) has no session.
    """
    if not set(days) & set(range(7)):
        raise ValueError(f"no weekday among {days!r}")
    start = local_time_in(zone, after).date() - timedelta(days=1)
    for offset in range(_MAX_DAYS_AHEAD):
        day = start + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        due = to_utc(day, at, zone)
        if due > after and local_time_in(zone, due).date() == day:
            return due
    raise ValueError("no session date found")  # unreachable with a real zone


def in_quiet_hours(local: time, quiet: QuietHours) -> bool:
    """Whether a local time falls in quiet hours (start inside, end outside; may cross midnight)."""
    return quiet.contains(local.replace(tzinfo=None))


def respect_quiet_hours(due_utc: datetime, zone: str, quiet: QuietHours, chosen: time | None) -> datetime:
    """Move a prompt due in quiet hours to the window's end, unless the user chose a quiet time."""
    local = local_time_in(zone, due_utc)
    if not in_quiet_hours(local.time(), quiet) or (chosen is not None and in_quiet_hours(chosen, quiet)):
        return due_utc.astimezone(UTC)
    end = to_utc(local.date(), quiet.end, zone)
    return end if end > due_utc else to_utc(local.date() + timedelta(days=1), quiet.end, zone)


def snooze_until(
    now_utc: datetime, minutes: int, zone: str, quiet: QuietHours, chosen: time | None
) -> datetime:
    """When a snoozed prompt comes back: `minutes` from now, moved out of quiet hours if needed."""
    return respect_quiet_hours(_aware(now_utc) + timedelta(minutes=minutes), zone, quiet, chosen)


def morning_check_due(session_utc: datetime, zone: str, morning: time) -> datetime:
    """The next-morning check: `morning` local time on the day after the session's local date."""
    return to_utc(local_time_in(zone, session_utc).date() + timedelta(days=1), morning, zone)


def is_within_grace(due_utc: datetime, now_utc: datetime, grace_minutes: int) -> bool:
    """Whether a due prompt may still be sent: from its due time to `grace_minutes` later, inclusive."""
    return _aware(due_utc) <= _aware(now_utc) <= due_utc + timedelta(minutes=grace_minutes)
