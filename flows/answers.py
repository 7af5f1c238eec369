"""Turning an event into the answer a state's question expects, by the question's reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows import schedule as clock
from hipcoach.flows.feedback import read_feedback
from hipcoach.flows.prompts import prompt
from hipcoach.flows.safety import read_statement
from hipcoach.flows.screens import SCREENS
from hipcoach.flows.understand import normalise, read_equipment, read_one_of, read_question, says_done
from hipcoach.flows.values import Choice, Event, Text

STALE = object()  # an answer that belongs to another question
CHECKIN_FIELDS = ("pain", "effort", "control", "location")
LIMITS_KEPT = 200  # characters of a clinician's limits, as the user typed them


def read_answer(name: str, data: dict[str, Any], event: Event, content: Content, now: datetime) -> Any:
    """The answer an event gives to the state's question: a value, STALE, or None if unreadable."""
    if isinstance(event, Text):
        event = typed_choice(name, data, event, content, now) or event
    if isinstance(event, Choice):
        question, _, value = event.value.partition(":")
        if question != name:
            return STALE
        return _choice_answer(name, value, data, content)
    if isinstance(event, Text):
        return _text_answer(name, event.text, data, content)
    return None


def typed_choice(
    name: str, data: dict[str, Any], event: Text, content: Content, now: datetime
) -> Choice | None:
    """A typed button label or value counts as pressing that button."""
    typed = normalise(event.text)
    if not typed:
        return None
    labels_count = SCREENS[name].reader != "equipment"  # typed equipment names are a whole list
    for row in prompt(name, data, content, now).buttons:
        for button in row:
            label = content.message(button.label).format(**button.params)
            if typed == normalise(button.value) or (labels_count and typed == normalise(label)):
                return Choice(button.value)
    return None


def _choice_answer(name: str, value: str, data: dict[str, Any], content: Content) -> Any:
    reader = SCREENS[name].reader
    if reader == "equipment":
        return _equipment_choice(value, data, content)
    if name == "checkin_pain":
        return {"pain": int(value)} if value.isascii() and value.isdigit() and int(value) <= 10 else None
    if reader == "score":
        return {"score": int(value)} if value.isascii() and value.isdigit() and int(value) <= 10 else None
    if reader == "activity":
        return _activity_choice(value, content)
    if reader == "day":
        return (
            {"summary_day": int(value)} if value.isascii() and value.isdigit() and int(value) <= 6 else None
        )
    if reader == "limits":
        return {"limits": None} if value == "none" else None
    if reader == "checkin":
        field = name.removeprefix("checkin_")
        return {field: value} if value in _allowed(name) else None
    if reader == "days":
        preset = next((p for p in content.schedule.presets if p.id == value), None)
        return {"days": list(preset.days)} if preset else None
    if reader == "time":
        parsed = clock.parse_time(f"{value[:2]}:{value[2:]}", content.schedule) if len(value) == 4 else None
        return {"time": parsed.strftime("%H:%M")} if parsed else None
    if reader == "zone":
        current = data.get("schedule", {}).get("zone")
        zone = {"utc": "UTC", "keep": current}.get(value)
        return {"zone": zone} if zone else None
    return value if value in _allowed(name) else None


def _activity_choice(value: str, content: Content) -> dict[str, Any] | None:
    if value == "skip":
        return {"skip": True}
    examples = content.screening.goal_examples
    chosen = value.isascii() and value.isdigit() and int(value) < len(examples)  # "²" is a digit, not 2
    return {"activity": examples[int(value)]} if chosen else None


def _allowed(name: str) -> set[str]:
    return {answer for answer, _ in SCREENS[name].answers}


def _equipment_choice(value: str, data: dict[str, Any], content: Content) -> Any:
    if value == "none":
        return {"finish": []}
    if value == "done":
        return {"finish": list(data.get("selected", []))}
    known = {item.id for item in content.screening.equipment}
    return {"toggle": value} if value in known else None


def _text_answer(name: str, text: str, data: dict[str, Any], content: Content) -> Any:
    reader = SCREENS[name].reader
    if reader == "equipment":
        named = read_equipment(text, content.screening)
        if named is not None:
            return {"finish": named}
        return {"finish": list(data.get("selected", []))} if says_done(text, content.screening) else None
    if reader == "continue":
        return SCREENS[name].answers[0][0] if says_done(text, content.screening) else None
    if name == "session_offer":  # 'lets go', 'in 30', 'nah skip it today'
        return read_one_of(text, content.agenda.session_answers.model_dump(), content.screening.negations)
    if name == "idle":
        return (
            "start"
            if read_one_of(text, {"start": content.agenda.start_words}, content.screening.negations)
            else None
        )
    if reader == "checkin":
        reading = read_feedback(text, content.feedback).to_json()
        found = {k: reading[k] for k in CHECKIN_FIELDS if reading[k] is not None}
        return found if set(found) - {"location"} else None
    if reader == "morning":
        return read_one_of(text, content.progression.morning_phrases, content.screening.negations)
    if reader == "parts":
        part = read_one_of(text, content.progression.plan_checkin.phrases, content.screening.negations)
        return part if part in (data.get("parts_asked") or {}) or part in ("fine", "skipped") else None
    if reader == "activity":
        activity = " ".join(text.split())[: content.screening.goal_activity_max]
        return {"activity": activity} if len(normalise(activity)) >= 3 else None
    if reader == "score":
        score = read_feedback(text, content.feedback).pain
        return None if score is None else {"score": score}
    if reader == "day":
        days = clock.parse_days(text, content.schedule)
        return {"summary_day": days[0]} if days and len(days) == 1 else None
    if reader in ("days", "time", "zone"):
        return _schedule_text(reader, text, content)
    if reader == "yes_no":
        said = read_question(text, name, content.screening)
        return None if said is None else ("yes" if said else "no")
    if reader in ("assessed", "clearance", "limits"):
        return _safety_text(reader, name, text, content)
    return None


def _safety_text(reader: str, name: str, text: str, content: Content) -> Any:
    """Only an explicit statement lifts a hold; a plain yes, a plan or a hope is not one."""
    safety = content.safety
    if reader == "limits":  # a whole reply of 'no', 'none', 'no limits' ... means none
        question = next(q for q in content.screening.questions if q.id == name)
        if normalise(text) in {normalise(phrase) for phrase in question.no_phrases}:
            return {"limits": None}
        return {"limits": " ".join(text.split())[:LIMITS_KEPT]}
    rule = safety.assessed if reader == "assessed" else safety.clearance
    if read_statement(text, rule, safety):
        return "assessed" if reader == "assessed" else "yes"
    if reader == "clearance" and read_question(text, name, content.screening) is False:
        return "no"
    return None


def _schedule_text(reader: str, text: str, content: Content) -> dict[str, Any] | None:
    if reader == "days":
        days = clock.parse_days(text, content.schedule)
        return {"days": list(days)} if days else None
    if reader == "time":
        parsed = clock.parse_time(text, content.schedule)
        return {"time": parsed.strftime("%H:%M")} if parsed else None
    zone = clock.find_zone(text, content.schedule)
    return {"zone": zone} if zone else None
