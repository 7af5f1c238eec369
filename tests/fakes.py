"""In-memory fakes for the shell's ports; tests assert on what they recorded."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hipcoach.bot.storage.sql import Decide
from hipcoach.flows.values import ForgetUser, Outcome, State


@dataclass
class FakeStorage:
    states: dict[int, State] = field(default_factory=dict)
    effects: dict[int, list[Any]] = field(default_factory=dict)
    fail_next: Exception | None = None

    async def transact(self, user_id: int, now: datetime, decide: Decide) -> Outcome:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        outcome = decide(copy.deepcopy(self.states.get(user_id, State())))
        if any(isinstance(e, ForgetUser) for e in outcome.effects):
            self.states.pop(user_id, None)
            self.effects.pop(user_id, None)
            return outcome
        self.states[user_id] = outcome.state
        self.effects.setdefault(user_id, []).extend(outcome.effects)
        return outcome

    async def load_state(self, user_id: int) -> State:
        return self.states.get(user_id, State())
