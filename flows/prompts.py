"""The question each state asks, rendered as a Reply with its buttons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows import cards, load, moves
from hipcoach.flows import schedule as clock
from hipcoach.flows.dose import dose_at
from hipcoach.flows.plan import plan_text
from hipcoach.flows.screens import MODALS, SAFETY_CHECK, SCREENS
from hipcoach.flows.values import Button, Reply
from hipcoach.flows.when import say_when

Rows = tuple[tuple[Button, ...], ...]


def prompt(name: str, data: dict[str, Any], content: Content, now: datetime) -> Reply:
    """The reply that asks the question of state `name`, with its buttons."""
    screen = SCREENS[name]
    special = KEYBOARDS[screen.keyboard](name) if screen.keyboard != "answers" else None
    if special is not None:
        params, buttons = special(data, content, now)
        ask = screen.ask
        if name == "session" and is_familiar(data["position"]["exercise"], data):
            ask = "exercise_card_short"
        return Reply(ask, params, buttons)
    buttons = tuple(Button(label, f"{name}:{value}") for value, label in screen.answers)
    rows: Rows = (buttons,) if len(buttons) <= 3 else tuple((b,) for b in buttons)
    return Reply(screen.ask, {}, rows if buttons else ())


def current_question(name: str, data: dict[str, Any], content: Content, now: datetime) -> Reply:
    """What the user is being asked now: a pending safety question first, then a confirmation, then
    the state's own question."""
    check = data.get("safety_check")
    if check:
        row = tuple(Button(label, f"safety:{value}") for value, label in SAFETY_CHECK.answers)
        return Reply(f"safety_question_{check['questions'][0]}", {}, (row,))
    modal = data.get("confirm")
    if modal in MODALS:
        screen = MODALS[modal]
        buttons = tuple((Button(label, f"{modal}:{value}"),) for value, label in screen.answers)
        return Reply(screen.ask, {}, buttons if len(buttons) > 2 else (tuple(b for (b,) in buttons),))
    return prompt(name, data, content, now)


def _red_flags(tier: str) -> Any:
    def build(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
        signs = next(t.signs for t in content.screening.red_flags if t.id == tier)
        screen = SCREENS[f"red_flags_{tier}"]
        row = tuple(Button(label, f"red_flags_{tier}:{value}") for value, label in screen.answers)
        return {"signs": cards.bullets(signs, content)}, (row,)

    return build


def _equipment(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    selected = data.get("selected", [])
    rows: list[tuple[Button, ...]] = []
    for item in content.screening.equipment:
        label = "button_selected" if item.id in selected else "button_unselected"
        rows.append((Button(label, f"equipment:{item.id}", {"label": item.label}),))
    rows.append((Button("button_no_equipment", "equipment:none"), Button("button_done", "equipment:done")))
    return {}, tuple(rows)


def _session(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    """The full card the first time (or on request); a short card once the exercise is familiar. Both
    give the dose at the user's level on this exercise (flows/dose.py)."""
    position = data["position"]
    exercise = content.exercises[position["exercise"]]
    done, later, full = (Button(label, f"session:{value}") for value, label in SCREENS["session"].answers)
    familiar = is_familiar(exercise.id, data)
    params = (cards.short_card_params if familiar else cards.card_params)(exercise, content)
    params["dose"] = cards.dose_text(dose_at(exercise, position.get("level", 0), content), content)
    bell = load.guidance(exercise, position.get("load", 0), data.get("answers") or {}, content)
    if bell:  # choosing and raising a kettlebell, in plain words
        params["dose"] = f"{params['dose']}\n{bell}"
    params["plan"] = plan_text(data, content)
    rows = ((done, later), (full,)) if familiar else ((done, later),)
    return params, (*rows, moves.card_button(exercise.id))


def is_familiar(exercise: str, data: dict[str, Any]) -> bool:
    """Done before, and the full instructions not asked for this time."""
    done_before = any(entry.get("exercise") == exercise for entry in data.get("history") or [])
    return done_before and data.get("full_card") != exercise


def _scale(question: str) -> Any:
    """Buttons 0-10 in two rows, answering `question`."""

    def build(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
        def row(numbers: Sequence[int]) -> tuple[Button, ...]:
            return tuple(Button("button_number", f"{question}:{n}", {"n": n}) for n in numbers)

        params = {"activity": data.get("goal", {}).get("activity", "")} if question.startswith("goal") else {}
        return params, (row(range(0, 6)), row(range(6, 11)))

    return build


def _goal_activity(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    rows = tuple(
        (Button("button_plain", f"goal_activity:{n}", {"label": label}),)
        for n, label in enumerate(content.screening.goal_examples)
    )
    return {}, (*rows, (Button("button_skip_goal", "goal_activity:skip"),))


def _summary_day(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    def row(days: Sequence[int]) -> tuple[Button, ...]:
        return tuple(Button(f"day_{d}", f"schedule_summary_day:{d}") for d in days)

    return {}, (row(range(0, 4)), row(range(4, 7)))


def _days(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    rows = tuple(
        (Button("button_days", f"schedule_days:{p.id}", {"days": day_names(p.days, content)}),)
        for p in content.schedule.presets
    )
    return {}, rows


def _time(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    row = tuple(
        Button("button_time", f"schedule_time:{t.strftime('%H%M')}", {"time": t.strftime("%H:%M")})
        for t in content.schedule.time_presets
    )
    return {}, (row,)


def _zone(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    buttons = [Button("button_utc", "schedule_zone:utc")]
    current = data.get("schedule", {}).get("zone")
    if current:
        buttons.insert(0, Button("button_keep_zone", "schedule_zone:keep", {"zone": current}))
    return {}, (tuple(buttons),)


def _confirm(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    draft = data["draft"]
    params = {
        "days": day_names(draft["days"], content),
        "time": draft["time"],
        "zone": draft["zone"],
        "local_now": local_clock(now, draft["zone"]),
        "summary_day": content.message(f"day_{draft['summary_day']}"),
        "first": say_when(first_session(draft, now), now, draft["zone"], content),
    }
    row = tuple(Button(label, f"schedule_confirm:{v}") for v, label in SCREENS["schedule_confirm"].answers)
    return params, (row,)


def _idle(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    row = tuple(Button(label, f"idle:{value}") for value, label in SCREENS["idle"].answers)
    return {"next": next_session_text(data, content, now)}, (row,)


def _offer(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    exercise = content.exercises[data["position"]["exercise"]].name
    answers = SCREENS["session_offer"].answers
    rows = (
        (Button(answers[0][1], f"session_offer:{answers[0][0]}"),),
        tuple(Button(label, f"session_offer:{value}") for value, label in answers[1:]),
    )
    return {"exercise": exercise}, rows


def _parts(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    """One tap about the rest of the plan: fine, skipped, or which part hurt (only parts it had)."""
    asked = data.get("parts_asked") or {}
    names = [content.exercises[exercise].name for exercise in asked.values()]
    shown = [
        (v, label) for v, label in SCREENS["checkin_parts"].answers if v in ("fine", "skipped") or v in asked
    ]
    rows = tuple((Button(label, f"checkin_parts:{value}"),) for value, label in shown)
    return {"parts": content.message("list_and").join(names)}, rows


def _sticking(data: dict[str, Any], content: Content, now: datetime) -> tuple[dict[str, Any], Rows]:
    offer = data["offer"]
    params = {
        "exercise": content.exercises[offer["exercise"]].name,
        "ladder": content.ladders[offer["ladder"]].name,
    }
    row = tuple(Button(label, f"sticking_offer:{v}") for v, label in SCREENS["sticking_offer"].answers)
    return params, (row,)


# Keyboard builders by the name a screen declares (flows/screens.py `Screen.keyboard`); each gets the
# state's name, so one builder serves several questions.
KEYBOARDS: dict[str, Any] = {
    "red_flags": lambda name: _red_flags(name.removeprefix("red_flags_")),
    "equipment": lambda name: _equipment,
    "card": lambda name: _session,
    "scale": _scale,
    "goal_examples": lambda name: _goal_activity,
    "weekdays": lambda name: _summary_day,
    "day_presets": lambda name: _days,
    "time_presets": lambda name: _time,
    "zones": lambda name: _zone,
    "schedule_confirm": lambda name: _confirm,
    "idle": lambda name: _idle,
    "session_offer": lambda name: _offer,
    "offer": lambda name: _sticking,
    "parts": lambda name: _parts,
}


def day_names(days: Sequence[int], content: Content) -> str:
    return content.message("list_separator").join(content.message(f"day_{d}") for d in days)


def local_clock(now: datetime, zone: str) -> str:
    return clock.local_time_in(zone, now).strftime("%H:%M")


def first_session(plan: dict[str, Any], now: datetime) -> datetime:
    """The first regular session on a plan (days, time, zone) after `now`, in UTC."""
    return clock.next_session_due(tuple(plan["days"]), time.fromisoformat(plan["time"]), plan["zone"], now)


def next_session_due(data: dict[str, Any], now: datetime) -> datetime | None:
    """When the next session prompt comes: a pending snooze if it is sooner, else the schedule's next."""
    plan = data.get("schedule")
    if not plan:
        return None
    due = first_session(plan, now)
    snoozed = data.get("snoozed")
    if snoozed and now < datetime.fromisoformat(snoozed) < due:
        return datetime.fromisoformat(snoozed)
    return due


def next_session_text(data: dict[str, Any], content: Content, now: datetime) -> str:
    """When the next session prompt comes, said relative to now in the user's zone, or that none is set."""
    due = next_session_due(data, now)
    if due is None:
        return content.message("no_schedule_yet")
    return say_when(due, now, data["schedule"]["zone"], content)
