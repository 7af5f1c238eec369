"""The shape of schedule content: training-day presets, day and time vocabulary, quiet hours, zones.

Kept apart from content/schema.py (which embeds `ScheduleSettings` as its `schedule` field) so that
this module imports nothing from it and the two never import each other.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_OFFSET_KEY = re.compile(r"[+-](\d\d):([0-5]\d)")
# Two instants a year apart in season, to check that an offset's zone really uses that offset.
_PROBES = (datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC))


def _clock(value: object) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise ValueError(f"must be a quoted 24-hour time 'HH:MM', got {value!r}")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA names tzdata knows; listing them walks the whole database, so once per process."""
    return frozenset(available_timezones())


def _zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


def _phrase(text: str) -> str:
    if text != " ".join(text.lower().split()) or not text:
        raise ValueError(f"phrases are written lower-case with single spaces, got {text!r}")
    return text


Clock = Annotated[time, BeforeValidator(_clock)]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]
Zone = Annotated[str, AfterValidator(_zone)]
Phrase = Annotated[str, AfterValidator(_phrase)]
Days = Annotated[list[Weekday], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Preset(_Strict):
    """A quick choice of training days, offered as a button."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    days: Days

    @model_validator(mode="after")
    def _distinct(self) -> Preset:
        if len(set(self.days)) != len(self.days):
            raise ValueError(f"preset {self.id!r} repeats a day")
        return self


class QuietHours(_Strict):
    """A daily window in local time when no prompt is sent; it may cross midnight (22:00-07:00)."""

    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        return self

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time is quiet: the start is inside the window, the end is not."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class ScheduleSettings(_Strict):
    """Everything the schedule flows read: presets, vocabulary, quiet hours, windows, zones."""

    presets: list[Preset] = Field(min_length=1)
    day_words: dict[Weekday, list[Phrase]] = Field(description="weekday -> words naming it")
    day_groups: dict[Phrase, Days] = Field(description="phrase -> the days it means ('weekdays')")
    range_words: list[str] = Field(min_length=1, description="Between two days makes a range: mon-fri.")
    except_words: list[Phrase] = Field(default_factory=list, description="Days after these are removed.")
    time_words: dict[Phrase, Clock] = Field(default_factory=dict, description="'noon' -> 12:00")
    time_presets: list[Clock] = Field(min_length=1)
    quiet_hours: QuietHours
    grace_minutes: int = Field(ge=0, le=24 * 60)
    snooze_minutes: list[Annotated[int, Field(ge=1, le=24 * 60)]] = Field(min_length=1)
    morning_check: Clock
    weekly_summary_time: Clock
    morning_covers_hours: int = Field(
        ge=12, le=72, description="A morning answer covers the sessions of this many hours before it."
    )
    zone_aliases: dict[Phrase, Zone] = Field(description="names zoneinfo does not know: 'nyc', 'india'")
    offset_zones: dict[str, Zone] = Field(
        default_factory=dict, description="'+05:30' -> a zone for UTC offsets that are not whole hours"
    )
    zone_ignore_words: list[Phrase] = Field(
        default_factory=list, description="Zone-name tails that read as ordinary words: west, easter."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleSettings:
        self._check_days()
        self._check_times()
        self._check_offsets()
        return self

    def _check_days(self) -> None:
        if set(self.day_words) != set(range(7)):
            raise ValueError("day_words must name all seven weekdays, 0 (Monday) to 6 (Sunday)")
        words = [w for ws in self.day_words.values() for w in ws]
        repeated = sorted({w for w in words if words.count(w) > 1})
        if repeated:
            raise ValueError(f"day_words name more than one day: {repeated}")
        clash = sorted(set(words) & set(self.day_groups))
        if clash:
            raise ValueError(f"phrases are both a day and a day group: {clash}")
        ids = [p.id for p in self.presets]
        if len(set(ids)) != len(ids):
            raise ValueError("preset ids must be unique")

    def _check_times(self) -> None:
        loud = [t for t in (*self.time_presets, self.morning_check) if self.quiet_hours.contains(t)]
        if loud:
            raise ValueError(f"preset and morning times must be outside quiet hours: {loud}")

    def _check_offsets(self) -> None:
        for key, zone in self.offset_zones.items():
            match = _OFFSET_KEY.fullmatch(key)
            if not match:
                raise ValueError(f"offset keys are written '+HH:MM' or '-HH:MM', got {key!r}")
            sign = -1 if key[0] == "-" else 1
            offset = sign * timedelta(hours=int(match[1]), minutes=int(match[2]))
            if not timedelta(hours=-12) <= offset <= timedelta(hours=14):
                raise ValueError(f"offset {key} is outside UTC-12..UTC+14")
            if all(probe.astimezone(ZoneInfo(zone)).utcoffset() != offset for probe in _PROBES):
                raise ValueError(f"zone {zone} never uses offset {key}")
