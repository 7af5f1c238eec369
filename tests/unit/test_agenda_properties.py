"""Thousands of simulated users, each a random interleaving over weeks of due prompts (session, snooze,
morning, weekly, goal), commands, free text, fresh and stale buttons: nothing pending is ever lost.

Each turn is checked: a started check-in is never dropped (it stays open or is recorded), an active
user always has a future session prompt, at most one message of a reply carries buttons and it is
the last, and every reply to the user offers a way forward.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hipcoach.flows import Choice, Command, Due, Event, State, Text, render_all, step
from hipcoach.flows.screens import TRAINING
from hipcoach.flows.values import RecordCheckIn
from tests.chat import EngineChat, PromptTable
from tests.conftest import NOW

USERS = 2000
TURNS = 40
TEXTS = [
    "yes", "ok", "lets go", "later", "in 30", "skip", "nah skip it today", "pain 2, easy, smooth",
    "3, about right, smooth", "ouch, 7 out of 10, lost form", "pain 4", "hard", "wobbly", "better", "worse",
    "the same", "my back hurts a bit today", "how do I change the time?", "mon wed fri", "7am", "London",
    "6", "hello", "done", "no", "thanks",
]  # fmt: skip
COMMANDS = ["today", "checkin", "schedule", "pause", "resume", "progress", "help", "export", "start"]


@dataclass
class Simulated:
    chat: EngineChat
    prompts: PromptTable = field(default_factory=PromptTable)
    buttons_seen: list[str] = field(default_factory=list)

    def apply(self, effects) -> None:
        for effect in effects:
            self.prompts.apply(effect)


def turn(user: Simulated, event: Event, now: datetime):
    before = user.chat.state
    outcome = step(before, event, now, user.chat.content)
    messages = render_all(outcome.replies, user.chat.content)
    user.apply(outcome.effects)
    user.chat.state = outcome.state
    user.chat.now = now
    if messages:
        user.chat.last = messages
    for message in messages:
        user.buttons_seen += [value for row in message.buttons for _, value in row]
    return before, outcome, messages


def check(user: Simulated, event: Event, before: State, outcome, messages, now: datetime) -> None:
    where = f"{event!r} in {before.name}"
    keyboards = [i for i, message in enumerate(messages) if message.buttons]
    assert len(keyboards) <= 1 and (not keyboards or keyboards[0] == len(messages) - 1), where
    if not isinstance(event, Due):
        assert messages, f"no reply to {where}"
        assert messages[-1].buttons or "/" in messages[-1].text, f"dead end after {where}"
    started = (before.data.get("checkin") or {}).get("pain")
    if started is not None:
        kept = (outcome.state.data.get("checkin") or {}).get("pain") is not None
        recorded = any(isinstance(effect, RecordCheckIn) for effect in outcome.effects)
        assert kept or recorded, f"check-in dropped by {where}"
    if not isinstance(event, Due):  # prompts still due are being fired: checked after the last one
        assert_prompted(user, outcome.state, now, where)


def assert_prompted(user: Simulated, state: State, now: datetime, where: str) -> None:
    data = state.data
    active = state.name in TRAINING and data.get("schedule") and not data.get("paused")
    if active:
        assert user.prompts.get("session", now) > now, f"no future session prompt after {where}"


def simulate(seed: int, content) -> None:
    rng = random.Random(seed)
    chat = EngineChat(content)
    chat.screen(load_pain=rng.random() < 0.3, kneeling_ok=rng.random() < 0.7, knee_issues=rng.random() < 0.2)
    user = Simulated(chat)
    now = NOW
    for _ in range(TURNS):
        roll = rng.random()
        if roll < 0.3:
            now += timedelta(minutes=rng.randint(10, 60 * 40))
            while any(due <= now for due in user.prompts.values()):
                kind, due = min(user.prompts.items(), key=lambda item: item[1])
                user.prompts.pop(kind)
                at = min(due + timedelta(minutes=rng.choice([0, 5, 30, 200])), now)
                event: Event = Due(kind, 1, due)
                check(user, event, *turn(user, event, at), at)
            assert_prompted(user, user.chat.state, now, "due prompts")
            continue
        fresh = [value for row in (chat.last[-1].buttons if chat.last else ()) for _, value in row]
        if roll < 0.55 and fresh:
            event = Choice(rng.choice(fresh))
        elif roll < 0.62 and user.buttons_seen:
            event = Choice(rng.choice(user.buttons_seen))  # a stale button, most likely
        elif roll < 0.9:
            event = Text(rng.choice(TEXTS))
        else:
            event = Command(rng.choice(COMMANDS))
        check(user, event, *turn(user, event, now), now)


def test_thousands_of_random_users_never_lose_what_is_pending(content):
    for seed in range(USERS):
        simulate(seed, content)
