"""One turn of the coach: step(state, event, now, content) -> Outcome(state, replies, effects)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from content.schema import Content
from flows import onboarding
from flows.screens import COMING_SOON, RESTART, RESTART_ID, SCREENS
from flows.understand import normalise, read_equipment, read_question, says_done
from flows.values import (
    INITIAL,
    Button,
    Choice,
    Command,
    Event,
    Outcome,
    Reply,
    State,
    Text,
    Unsupported,
)

STALE = object()  # an answer that belongs to another question


def step(state: State, event: Event, now: datetime, content: Content) -> Outcome:
    """Decide the coach's reply to one event. Pure: `now` is given, nothing is read or written."""
    del now  # onboarding does not depend on the time yet; scheduled flows will
    data: dict[str, Any] = copy.deepcopy(dict(state.data))
    if state.name not in onboarding.STATES:
        state, data = State(), {}
    if isinstance(event, Command):
        return _command(state.name, data, event, content)
    if state.name == INITIAL:
        return _finish(onboarding.run(INITIAL, data, content, "begin"))
    if data.get("confirm") == RESTART_ID:
        return _confirm_restart(state.name, data, event, content)
    return _answer(state.name, data, event, content)


def _answer(name: str, data: dict[str, Any], event: Event, content: Content) -> Outcome:
    screen = SCREENS[name]
    if screen.reader == "none":
        return _reask(name, data, content)
    answer = read_answer(name, data, event, content)
    if answer is STALE:
        return _reask(name, data, content, "stale_button")
    if answer is None:
        return _reask(
            name,
            data,
            content,
            "unsupported_input" if isinstance(event, Unsupported) else "not_understood",
        )
    return _finish(onboarding.run(name, data, content, "answer", answer))


def read_answer(name: str, data: dict[str, Any], event: Event, content: Content) -> Any:
    """The answer an event gives to the state's question: a value, STALE, or None if unreadable."""
    if isinstance(event, Text):
        event = _as_choice(name, data, event, content) or event
    if isinstance(event, Choice):
        question, _, value = event.value.partition(":")
        if question != name:
            return STALE
        return _choice_answer(name, value, data, content)
    if isinstance(event, Text):
        return _text_answer(name, event.text, data, content)
    return None


def _as_choice(name: str, data: dict[str, Any], event: Text, content: Content) -> Choice | None:
    """A typed button label or value counts as pressing that button."""
    typed = normalise(event.text)
    for row in onboarding.prompt(name, data, content).buttons:
        for button in row:
            label = content.message(button.label).format(**button.params)
            if typed in (normalise(label), normalise(button.value)):
                return Choice(button.value)
    return None


def _choice_answer(name: str, value: str, data: dict[str, Any], content: Content) -> Any:
    if name == "equipment":
        if value == "none":
            return {"finish": []}
        if value == "done":
            return {"finish": list(data.get("selected", []))}
        known = {item.id for item in content.screening.equipment}
        return {"toggle": value} if value in known else None
    allowed = {answer for answer, _ in SCREENS[name].answers}
    return value if value in allowed else None


def _text_answer(name: str, text: str, data: dict[str, Any], content: Content) -> Any:
    screen = SCREENS[name]
    if screen.reader == "equipment":
        named = read_equipment(text, content.screening)
        if named is not None:
            return {"finish": named}
        return {"finish": list(data.get("selected", []))} if says_done(text, content.screening) else None
    if screen.reader == "continue":
        return screen.answers[0][0] if says_done(text, content.screening) else None
    said = read_question(text, name, content.screening)
    return None if said is None else ("yes" if said else "no")


def _command(name: str, data: dict[str, Any], event: Command, content: Content) -> Outcome:
    command = event.name.lower()
    if name == INITIAL:
        lead = [Reply("help")] if command == "help" else []
        return _finish(onboarding.run(INITIAL, data, content, "begin"), lead)
    data.pop("confirm", None)
    if command == "start":
        return _reask(name, data, content, "welcome_back")
    if command == "help":
        return _reask(name, data, content, "help")
    if command == "restart":
        data["confirm"] = RESTART_ID
        return Outcome(State(name, data), (_restart_question(),))
    if command in COMING_SOON:
        return _reask(name, data, content, "coming_soon", command=command)
    return _reask(name, data, content, "unknown_command", command=command[:32])


def _confirm_restart(name: str, data: dict[str, Any], event: Event, content: Content) -> Outcome:
    answer = _restart_answer(event, content)
    if answer is None:
        return Outcome(State(name, data), (Reply("not_understood"), _restart_question()))
    data.pop("confirm")
    if answer == "yes":
        return _finish(onboarding.run(name, data, content, "restart"))
    return _reask(name, data, content, "restart_cancelled")


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
    name: str, data: dict[str, Any], content: Content, lead: str | None = None, **params: Any
) -> Outcome:
    replies = [Reply(lead, params)] if lead else []
    replies.append(onboarding.prompt(name, data, content))
    return Outcome(State(name, data), tuple(replies))


def _finish(turn: onboarding.Turn, lead: list[Reply] | None = None) -> Outcome:
    return Outcome(State(turn.state, turn.data), (*(lead or []), *turn.replies), tuple(turn.effects))
