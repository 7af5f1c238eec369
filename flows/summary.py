"""Words about progress: the /progress summary, the weekly summary, the note for a human coach."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows import schedule as clock

WEEK = timedelta(days=7)


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _line(content: Content, key: str, **params: Any) -> str:
    return content.template(key, params).format(**params)


def _average(values: Iterable[int]) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 1) if values else None


def pain_line(data: dict[str, Any], now: datetime, content: Content) -> str:
    """This week's average pain against last week's, or a note that there is too little to say."""
    history = data.get("history") or []
    recent = _average(e["pain"] for e in history if now - WEEK < _at(e) <= now)
    before = _average(e["pain"] for e in history if now - 2 * WEEK < _at(e) <= now - WEEK)
    if recent is None:
        return _line(content, "summary_pain_none")
    if before is None:
        return _line(content, "summary_pain_first", now=recent)
    key = (
        "summary_pain_down"
        if recent < before
        else "summary_pain_up"
        if recent > before
        else "summary_pain_same"
    )
    return _line(content, key, before=before, now=recent)


def goal_lines(data: dict[str, Any], content: Content) -> list[str]:
    goal = data.get("goal")
    if not goal or not goal.get("ratings"):
        return []
    first, latest = goal["ratings"][0]["score"], goal["ratings"][-1]["score"]
    lines = [_line(content, "summary_goal", activity=goal["activity"], first=first, latest=latest)]
    change = first - latest
    if abs(change) >= content.progression.goal_meaningful_change:
        key = "summary_goal_better" if change > 0 else "summary_goal_worse"
        lines.append(_line(content, key, change=abs(change)))
    return lines


def planned_days(data: dict[str, Any], start: datetime, end: datetime) -> list[date]:
    """The user's planned training dates (local) whose session time fell in (start, end]."""
    plan = data.get("schedule")
    if not plan:
        return []
    if plan.get("since"):
        start = max(start, datetime.fromisoformat(plan["since"]))
    first = clock.local_time_in(plan["zone"], start).date()
    last = clock.local_time_in(plan["zone"], end).date()
    at = time.fromisoformat(plan["time"])
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [
        d for d in days if d.weekday() in plan["days"] and start < clock.to_utc(d, at, plan["zone"]) <= end
    ]


def done_days(data: dict[str, Any]) -> set[date]:
    zone = (data.get("schedule") or {}).get("zone", "UTC")
    return {clock.local_time_in(zone, _at(e)).date() for e in data.get("history") or []}


def streak(data: dict[str, Any], now: datetime) -> int:
    """Planned sessions done in a row, newest first; days off the plan never break it, nor does today."""
    history = data.get("history") or []
    if not history or not data.get("schedule"):
        return 0
    done = done_days(data)
    planned = planned_days(data, _at(history[0]) - timedelta(days=1), now)
    today = clock.local_time_in(data["schedule"]["zone"], now).date()
    count = 0
    for day in reversed(planned):
        if day in done:
            count += 1
        elif day != today:  # today's session may still happen
            break
    return count


def progress_text(data: dict[str, Any], now: datetime, content: Content) -> str:
    """The /progress summary in words, for anyone who cannot see the chart."""
    history = data.get("history") or []
    window = timedelta(days=content.progression.summary_weeks * 7)
    sessions = sum(1 for e in history if now - window < _at(e) <= now)
    exercise = content.exercises[data["position"]["exercise"]].name
    lines = [
        _line(content, "summary_sessions", count=sessions, weeks=content.progression.summary_weeks),
        pain_line(data, now, content),
        _line(content, "summary_rung", exercise=exercise),
        *goal_lines(data, content),
    ]
    if data.get("clinician_limits"):
        lines.append(_line(content, "summary_limits", limits=data["clinician_limits"]))
    return "\n".join(lines)


def weekly_text(data: dict[str, Any], now: datetime, content: Content) -> str:
    """The weekly summary: sessions against plan, pain trend, rung changes and why, the streak."""
    history = data.get("history") or []
    done = sum(1 for e in history if now - WEEK < _at(e) <= now)
    planned = len(planned_days(data, now - WEEK, now))
    lines = [_line(content, "weekly_sessions", done=done, planned=planned), pain_line(data, now, content)]
    for decision in data.get("decisions") or []:
        if decision.get("kind") in ("progress", "simplify") and now - WEEK < _at(decision) <= now:
            lines.append(_line(content, decision["reason"], **decision.get("params", {})))
    lines.extend(goal_lines(data, content))
    count = streak(data, now)
    lines.append(
        _line(content, "weekly_streak", count=count) if count else _line(content, "weekly_fresh_start")
    )
    return "\n".join(lines)


def coach_text(data: dict[str, Any], now: datetime, content: Content, handle: str | None) -> str:
    """The short summary a human coach receives; the handle only if the user agreed to share it."""
    who = (
        _line(content, "coach_from_handle", handle=handle)
        if handle
        else _line(content, "coach_from_anonymous")
    )
    flag = data.get("red_flag")
    lines = [who]
    if flag:
        lines.append(_line(content, f"coach_red_flag_{flag}"))
    if data.get("position"):
        lines.append(progress_text(data, now, content))
    return "\n".join(lines)
