"""One turn of the coach: step(state, event, now, content) -> Outcome(state, replies, effects)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from content.schema import Content
from flows import machine
from flows.answers import STALE, read_answer
from flows.feedback import signals_red_flag
from flows.prompts import prompt
from flows.screens import COMING_SOON, INTERRUPTIBLE, RESTART, RESTART_ID, SCREENS, TRAINING
from flows.training import next_session_prompt
from flows.understand import read_question
from flows.values import (
    INITIAL,
    Button,
    Choice,
    Command,
    Due,
    Event,
    Outcome,
    Reply,
    State,
    Text,
    Unsupported,
)

# Commands that move someone around the programme once screening is behind them.
PROGRAMME_COMMANDS = {"today": "today", "checkin": "checkin", "schedule": "change_schedule", "pause": "pause"}
NO_RED_FLAG_SCAN = (INITIAL, "consent", "red_flags_urgent", "urgent_stop")


def step(state: State, event: Event, now: datetime, content: Content) -> Outcome:
    """Decide the coach's reply to one event. Pure: `now` is given, nothing is read or written."""
    data: dict[str, Any] = copy.deepcopy(dict(state.data))
    name = state.name if state.name in machine.STATES else INITIAL
    if name == INITIAL and state.name != INITIAL:
        data = {}
    if isinstance(event, Due):
        return _due(name, data, event, now, content)
    if isinstance(event, Command):
        return _command(name, data, event, now, content)
    if name == INITIAL:
        return _run(name, data, content, now, "begin")
    if data.get("confirm") == RESTART_ID:
        return _confirm_restart(name, data, event, now, content)
    if (
        isinstance(event, Text)
        and name not in NO_RED_FLAG_SCAN
        and signals_red_flag(event.text, content.feedback)
    ):
        return _run(name, data, content, now, "red_flag")
    return _answer(name, data, event, now, content)


def _answer(name: str, data: dict[str, Any], event: Event, now: datetime, content: Content) -> Outcome:
    if SCREENS[name].reader == "none":
        return _reask(name, data, content, now)
    answer = read_answer(name, data, event, content, now)
    if answer is STALE:
        return _reask(name, data, content, now, "stale_button")
    if answer is None:
        lead = "unsupported_input" if isinstance(event, Unsupported) else "not_understood"
        return _reask(name, data, content, now, lead)
    return _run(name, data, content, now, "answer", answer)


def _due(name: str, data: dict[str, Any], event: Due, now: datetime, content: Content) -> Outcome:
    """A scheduled prompt: offer it, or skip it quietly and mention it next time."""
    if name not in TRAINING or data.get("paused"):
        return Outcome(State(name, data), ())
    effects = []
    if event.kind == "session":
        planned = next_session_prompt(data, content, now)
        effects = [planned] if planned else []
    late = now - event.due_at > timedelta(minutes=content.schedule.grace_minutes)
    if event.kind == "morning":
        unanswered = bool(data.get("history")) and not data["history"][-1].get("morning")
        if late or not unanswered or name not in INTERRUPTIBLE:
            return Outcome(State(name, data), (), tuple(effects))
        return _run(name, data, content, now, "ask_morning")
    if late or name not in INTERRUPTIBLE:
        data["missed"] = data.get("missed", 0) + 1
        return Outcome(State(name, data), (), tuple(effects))
    return _run(name, data, content, now, "offer_session", extra_effects=effects)


def _command(name: str, data: dict[str, Any], event: Command, now: datetime, content: Content) -> Outcome:
    command = event.name.lower()
    if name == INITIAL:
        lead = [Reply("help")] if command == "help" else []
        return _run(INITIAL, data, content, now, "begin", lead=lead)
    data.pop("confirm", None)
    if command == "start":
        return _reask(name, data, content, now, "welcome_back")
    if command == "help":
        return _reask(name, data, content, now, "help")
    if command == "restart":
        data["confirm"] = RESTART_ID
        return Outcome(State(name, data), (_restart_question(),))
    if command in PROGRAMME_COMMANDS or command == "resume":
        return _programme_command(name, data, command, now, content)
    if command in COMING_SOON:
        return _reask(name, data, content, now, "coming_soon", command=command)
    return _reask(name, data, content, now, "unknown_command", command=command[:32])


def _programme_command(
    name: str, data: dict[str, Any], command: str, now: datetime, content: Content
) -> Outcome:
    if name not in TRAINING:
        return _reask(name, data, content, now, "finish_screening_first")
    if command == "resume":
        if name != "paused" and not data.get("paused"):
            return _reask(name, data, content, now, "not_paused")
        return _run(name, data, content, now, "resume")
    data.pop("checkin", None)
    data.pop("draft", None)
    return _run(name, data, content, now, PROGRAMME_COMMANDS[command])


def _confirm_restart(
    name: str, data: dict[str, Any], event: Event, now: datetime, content: Content
) -> Outcome:
    answer = _restart_answer(event, content)
    if answer is None:
        return Outcome(State(name, data), (Reply("not_understood"), _restart_question()))
    data.pop("confirm")
    if answer == "yes":
        return _run(name, data, content, now, "restart")
    return _reask(name, data, content, now, "restart_cancelled")


def _restart_answer(event: Event, content: Content) -> str | None:
    if isinstance(event, Choice):
        question, _, value = event.value.partition(":")
        return value if question == RESTART_ID and value in ("yes", "no") else None
    if isinstance(event, Text):
        said = read_question(event.text, RESTART_ID, content.screening)
        return None if said is None else ("yes" if said else "no")
    return None


def _restart_question() -> Reply:
    buttons = tuple(Button(label, f"{RESTART_ID}:{value}") for value, label in RESTART.answers)
    return Reply(RESTART.ask, {}, (buttons,))


def _reask(
    name: str, data: dict[str, Any], content: Content, now: datetime, lead: str | None = None, **params: Any
) -> Outcome:
    replies = [Reply(lead, params)] if lead else []
    replies.append(prompt(name, data, content, now))
    return Outcome(State(name, data), tuple(replies))


def _run(
    name: str,
    data: dict[str, Any],
    content: Content,
    now: datetime,
    trigger: str,
    *args: Any,
    lead: list[Reply] | None = None,
    extra_effects: list[Any] | None = None,
) -> Outcome:
    turn = machine.run(name, data, content, now, trigger, *args)
    effects = (*(extra_effects or []), *turn.effects)
    return Outcome(State(turn.state, turn.data), (*(lead or []), *turn.replies), effects)
