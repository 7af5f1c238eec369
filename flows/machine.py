"""One `transitions.Machine` for every user, configured from the onboarding and training data."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from transitions import EventData, Machine

from hipcoach.content.schema import Content
from hipcoach.flows import commands, moves, onboarding, training
from hipcoach.flows.prompts import current_question
from hipcoach.flows.screens import SCREENS
from hipcoach.flows.values import INITIAL, Button, Effect, Reply

STATES = [INITIAL, *SCREENS]
Rows = tuple[tuple[Button, ...], ...]


class Turn(onboarding.OnboardingSteps, training.TrainingSteps, commands.CommandSteps):
    """The model the shared machine drives for one turn: a user's data and what the turn produced."""

    def __init__(self, name: str, data: dict[str, Any], content: Content, now: datetime) -> None:
        self.state = name
        self.data = data
        self.content = content
        self.now = now
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.replaces_pressed = False  # the question asked again takes the pressed one's place

    def ask(self, event: EventData | None = None) -> None:
        """Put the current state's question (with its buttons) at the end of the replies."""
        if self.state == "session":
            self.back_after_break()
            self._first_sight()
            self.data["session_started"] = self.now.isoformat()  # a check-in after it counts
        if self.state in SCREENS:
            question = current_question(self.state, self.data, self.content, self.now)
            self.replies.append(dataclasses.replace(question, replaces_pressed=self.replaces_pressed))

    def _first_sight(self) -> None:
        """The first card of an exercise comes with its animation; later ones offer it on a button."""
        exercise = self.content.exercises[self.data["position"]["exercise"]]
        seen = self.data.setdefault("animated", [])
        if exercise.id not in seen:
            seen.append(exercise.id)
            self.replies.extend(moves.replies(exercise.id, True, self.data, self.content))


MACHINE = Machine(
    model=None,
    states=STATES,
    transitions=[*onboarding.TRANSITIONS, *training.TRANSITIONS, *commands.TRANSITIONS],
    initial=INITIAL,
    auto_transitions=False,
    send_event=True,
    prepare_event="absorb",
    after_state_change="ask",
)


def run(name: str, data: dict[str, Any], content: Content, now: datetime, trigger: str, *args: Any) -> Turn:
    """Fire one trigger on the shared machine for a user whose state is `name`.

    The event is fired on the turn directly: adding the turn to the machine as a model would bind some
    sixty convenience methods to it, every turn, and the engine uses none of them.
    """
    turn = Turn(name, data, content, now)
    try:
        event = MACHINE.events[trigger]
    except KeyError:
        raise AttributeError(f"Do not know event named {trigger!r}.") from None
    event.trigger(turn, *args)
    return turn
