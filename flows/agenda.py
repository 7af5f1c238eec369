"""The agenda: a user's open items, kept in the dialogue data as typed plain JSON.

An item says that something is open (a check-in under way, the question about the morning after,
a due session, an offer at a sticking point, the goal re-rating), since when, from when it may be
asked and until when. What the item is about stays where it always lived (`data["checkin"]`,
`data["offer"]`, the latest history entry, `data["goal"]`); the agenda keeps order and lifetimes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter

from hipcoach.content.agenda_schema import Kind
from hipcoach.content.schema import Content

# The state that asks each kind of item.
ASKED_IN: dict[Kind, str] = {
    "checkin": "checkin_pain",
    "morning": "morning_check",
    "session": "session_offer",
    "offer": "sticking_offer",
    "goal": "goal_recheck",
}
CHECKIN_STATES = ("checkin_pain", "checkin_effort", "checkin_control")
# The trigger that brings each kind back to the user.
TRIGGERS: dict[Kind, str] = {
    "checkin": "resume_checkin",
    "morning": "ask_morning",
    "session": "offer_session",
    "offer": "ask_offer",
    "goal": "ask_goal",
}


class Item(BaseModel):
    """One open item: due from `after`, open until `expires`; `asked` once put to the user."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    since: AwareDatetime
    after: AwareDatetime
    expires: AwareDatetime
    asked: bool = False


_ITEMS = TypeAdapter(list[Item])


def items(data: dict[str, Any]) -> list[Item]:
    """The open items, validated (a malformed agenda is a bug, not something to guess around)."""
    return _ITEMS.validate_python(data.get("agenda") or [])


def _save(data: dict[str, Any], kept: list[Item]) -> None:
    if kept:
        data["agenda"] = _ITEMS.dump_python(kept, mode="json")
    else:
        data.pop("agenda", None)


def kind_of(state: str) -> Kind | None:
    """The kind of item a state asks, if it asks one."""
    if state in CHECKIN_STATES:
        return "checkin"
    return next((kind for kind, asked in ASKED_IN.items() if asked == state), None)


def add(
    data: dict[str, Any],
    kind: Kind,
    now: datetime,
    content: Content,
    after: datetime | None = None,
    until: datetime | None = None,
) -> None:
    """Open an item, or merge into the open one of its kind (it keeps its place and gets the later expiry)."""
    start = after or now
    expires = start + timedelta(hours=content.agenda.lifetime_hours[kind])
    if until is not None:
        expires = min(expires, until)
    kept = items(data)
    same = next((item for item in kept if item.kind == kind), None)
    if same is None:
        kept.append(Item(kind=kind, since=now, after=start, expires=expires))
    else:
        same.after = min(same.after, start)
        same.expires = max(same.expires, expires)
    _save(data, kept)


def drop(data: dict[str, Any], kind: Kind) -> None:
    _save(data, [item for item in items(data) if item.kind != kind])


def has(data: dict[str, Any], kind: Kind) -> bool:
    return any(item.kind == kind for item in items(data))


def mark_asked(data: dict[str, Any], kind: Kind) -> None:
    kept = items(data)
    for item in kept:
        if item.kind == kind:
            item.asked = True
    _save(data, kept)


def was_asked(data: dict[str, Any], kind: Kind) -> bool:
    return any(item.kind == kind and item.asked for item in items(data))


def lapsed(data: dict[str, Any], now: datetime) -> list[Kind]:
    """Take the items whose time is up off the agenda and say which kinds they were."""
    kept = items(data)
    gone = [item.kind for item in kept if item.expires <= now]
    _save(data, [item for item in kept if item.expires > now])
    return gone


def next_due(data: dict[str, Any], now: datetime, content: Content) -> Kind | None:
    """The most important item that may be asked now."""
    due = {item.kind for item in items(data) if item.after <= now < item.expires}
    return next((kind for kind in content.agenda.priority if kind in due), None)


def sync(data: dict[str, Any], now: datetime, content: Content) -> None:
    """Keep the items whose subject lives elsewhere in step with it: a check-in, an offer."""
    subjects: tuple[tuple[Kind, str], ...] = (("checkin", "checkin"), ("offer", "offer"))
    for kind, subject in subjects:
        if subject in data and not has(data, kind):
            add(data, kind, now, content)
        elif subject not in data and has(data, kind):
            drop(data, kind)
