"""How the agenda shapes a turn: items lapse kindly, due prompts queue, and the coach returns to what
is open whenever nothing else is being asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows import agenda, machine
from hipcoach.flows.screens import SCREENS
from hipcoach.flows.values import Effect, Outcome, Reply, State

FREE = "idle"  # the state in which nothing is being asked
OPEN_QUESTION = "schedule_days"  # asked after a first check-in; it may wait for a due item


def lapse(
    name: str, data: dict[str, Any], now: datetime, content: Content
) -> tuple[str, list[Reply], list[Effect]]:
    """Let the items whose time is up go, each in its own kind way (flows/training.py `lapse_*`);
    a user still being asked a lapsed item is free again."""
    kinds = agenda.lapsed(data, now)
    if not kinds:
        return name, [], []
    turn = machine.Turn(name, data, content, now)
    for kind in kinds:
        getattr(turn, f"lapse_{kind}")()
    asked = agenda.kind_of(name)
    return (FREE if asked in kinds else name), turn.replies, turn.effects


def is_free(name: str, data: dict[str, Any]) -> bool:
    """Whether the user is being asked nothing, so an open item may be put to them."""
    busy = data.get("paused") or data.get("confirm") or data.get("safety_check")
    return name == FREE and not busy


def gives_way(
    name: str, data: dict[str, Any], now: datetime, content: Content, first_contact: bool = False
) -> bool:
    """Whether what is asked now may give way to a more important due item (it stays on the agenda).

    An item's question gives way to a higher one ('start your session?' to the morning question);
    at the user's first contact, a question left unanswered since the last session (the schedule)
    gives way too.
    """
    if is_free(name, data):
        return True
    busy = data.get("paused") or data.get("confirm") or data.get("safety_check")
    kind, due = agenda.kind_of(name), agenda.next_due(data, now, content)
    if busy or due is None or kind == due or kind == "checkin":
        return False
    if kind is not None:
        return content.agenda.priority.index(due) < content.agenda.priority.index(kind)
    left = name == OPEN_QUESTION and not data.get("draft") and not agenda.was_asked(data, due)
    return first_contact and left


def take_up(name: str, data: dict[str, Any], now: datetime, content: Content) -> str:
    """Move the user to the most important due item, if what is asked now may wait, before reading
    what they wrote ('better' on the morning after is the morning answer)."""
    if not gives_way(name, data, now, content, first_contact=True):
        return name
    kind = agenda.next_due(data, now, content)
    if kind is None:
        return name
    agenda.mark_asked(data, kind)
    return machine.run(name, data, content, now, agenda.TRIGGERS[kind]).state


def surface(outcome: Outcome, now: datetime, content: Content) -> Outcome:
    """A turn that leaves the user free goes on to the most important open item, saying so."""
    data = dict(outcome.state.data)
    name = outcome.state.name
    if not gives_way(name, data, now, content):
        return outcome
    kind = agenda.next_due(data, now, content)
    if kind is None:
        return outcome
    replies = list(outcome.replies)
    if replies and replies[-1].key == SCREENS[name].ask:
        replies.pop()  # one question at a time: the open item's
    lead = [Reply(f"back_to_{kind}")] if agenda.was_asked(data, kind) else []
    agenda.mark_asked(data, kind)
    turn = machine.run(name, data, content, now, agenda.TRIGGERS[kind])
    if turn.state == name:
        return Outcome(State(name, data), outcome.replies, outcome.effects)
    effects = (*outcome.effects, *turn.effects)
    return Outcome(State(turn.state, turn.data), (*replies, *lead, *turn.replies), effects)
