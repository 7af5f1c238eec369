"""A moment said as people say it, relative to now in the user's own time zone.

"today at 18:00", "tomorrow at 07:30", "on Friday at 18:00" (later this week), "on 14 Dec at 18:00"
(a week or more away, or already past). Days are counted between local calendar dates, so the words
stay right across midnight, in any zone and on the days clocks change. Every word comes from content
(`when_*`, `weekday_*`, `month_*`, `clock`); `now` is passed in.
"""

from __future__ import annotations

from datetime import datetime

from hipcoach.content.schema import Content
from hipcoach.flows import schedule as clock

WEEK_DAYS = 7  # from this many days ahead a weekday name could mean two dates, so the date is said


def say_when(moment: datetime, now: datetime, zone: str, content: Content, locale: str = "en") -> str:
    """`moment` as the user would say it, seen from `now`, both read in `zone`."""
    local = clock.local_time_in(zone, moment)
    days = (local.date() - clock.local_time_in(zone, now).date()).days
    at = content.text("clock", locale, hour=local.hour, minute=local.minute)
    if days == 0:
        return content.text("when_today", locale, time=at)
    if days == 1:
        return content.text("when_tomorrow", locale, time=at)
    if 1 < days < WEEK_DAYS:
        weekday = content.text(f"weekday_{local.weekday()}", locale)
        return content.text("when_weekday", locale, weekday=weekday, time=at)
    month = content.text(f"month_{local.month}", locale)
    date = content.text("date_day_month", locale, day=local.day, month=month)
    return content.text("when_date", locale, date=date, time=at)
