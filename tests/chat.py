"""A scripted conversation with the pure engine, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hipcoach.content.schema import Content
from hipcoach.flows import Choice, Command, Due, Effect, Event, Message, State, Text, render_all, step
from hipcoach.flows.values import CancelPrompts, ClearScreening, ForgetUser, SchedulePrompt
from tests.conftest import NOW


@dataclass
class EngineChat:
    content: Content
    state: State = field(default_factory=State)
    effects: list[Effect] = field(default_factory=list)
    last: list[Message] = field(default_factory=list)
    now: datetime = NOW

    def send(self, event: Event | str) -> list[Message]:
        if isinstance(event, str):
            event = Command(event[1:]) if event.startswith("/") else Text(event)
        outcome = step(self.state, event, self.now, self.content)
        self.state = outcome.state
        self.effects.extend(outcome.effects)
        self.last = render_all(outcome.replies, self.content)
        return self.last

    def due(self, kind: str, at: datetime) -> list[Message]:
        """A scheduled prompt of this kind comes due at `at`, which is now."""
        self.now = at
        return self.send(Due(kind, 1, at))

    def press(self, value: str) -> list[Message]:
        return self.send(Choice(value))

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.last)

    def screen(self, load_pain: bool, kneeling_ok: bool, knee_issues: bool) -> None:
        """Answer everything up to the first exercise with buttons."""
        yn = {True: "yes", False: "no"}
        self.send("hello")
        self.press("consent:yes")
        self.press("red_flags_urgent:no")
        self.press("red_flags_clinician:no")
        self.press(f"load_pain:{yn[load_pain]}")
        self.press(f"kneeling_ok:{yn[kneeling_ok]}")
        self.press(f"knee_issues:{yn[knee_issues]}")
        self.press("equipment:none")
        self.press("goal_activity:0")
        self.press("goal_rating:6")


class PromptTable(dict[str, datetime]):
    """A user's pending prompts as the shell keeps them: one due time per kind, replaced, cancelled
    or cleared by a turn's effects (bot/storage/sql.py does the same with its prompts table)."""

    def apply(self, effect: Effect) -> None:
        if isinstance(effect, SchedulePrompt):
            self[effect.kind] = effect.due_at
        elif isinstance(effect, CancelPrompts):
            for kind in effect.kinds or list(self):
                self.pop(kind, None)
        elif isinstance(effect, (ForgetUser, ClearScreening)):
            self.clear()
