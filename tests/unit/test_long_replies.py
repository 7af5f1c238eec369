"""Every reader of free text is linear or bounded: a 4,096-character reply of any shape takes < 50 ms.

Anyone can type such a reply at any question (Telegram's limit is 4,096 characters), and a reader
that is cubic in words blocks every user's turn while it runs (issue 15: the time-zone finder took
4.4 s, 32.8 s as "a a a ..."). Best of three runs, so a busy machine does not make it flaky.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from hipcoach.content.schema import Content
from hipcoach.flows.answers import read_answer
from hipcoach.flows.feedback import read_feedback, signals_red_flag
from hipcoach.flows.safety import screen
from hipcoach.flows.screens import MODALS, SCREENS
from hipcoach.flows.understand import read_question
from hipcoach.flows.values import Text

LONGEST_REPLY = 4096  # characters: Telegram's limit for one message
LIMIT = 0.050  # seconds, the target on a 2-core machine
RUNS = 3

Reader = Callable[[str, Content, datetime], Any]


def _words(vocabulary: list[str]) -> str:
    """Words drawn at random (a fixed seed) from `vocabulary`, up to the longest reply."""
    chooser = random.Random(15)
    return " ".join(chooser.choice(vocabulary) for _ in range(LONGEST_REPLY))[:LONGEST_REPLY]


NONSENSE = ["".join(random.Random(n).choices("abcdefghij", k=n % 7 + 1)) for n in range(50)]
# Words that start phrases the readers know: the most work for a phrase finder.
PHRASE_WORDS = ["new", "york", "sao", "paulo", "no", "not", "pain", "back", "hurt", "numb", "leg",
                "both", "legs", "easy", "wobbly", "out", "of", "10", "every", "day"]  # fmt: skip

SHAPES = {
    "a a a": ("a " * LONGEST_REPLY)[:LONGEST_REPLY],
    "random words": _words(NONSENSE),
    "phrase words": _words(PHRASE_WORDS),
    "one long word": "a" * LONGEST_REPLY,
    "digits": "7" * LONGEST_REPLY,
    "digits and spaces": ("7 " * LONGEST_REPLY)[:LONGEST_REPLY],
    "clauses": ("6/10, " * LONGEST_REPLY)[:LONGEST_REPLY],
    "emoji": "😀" * LONGEST_REPLY,
}


def _data(content: Content) -> dict[str, Any]:
    """Enough of a user's state for every question to be asked (its buttons are read too)."""
    ladder = next(iter(content.ladders))
    exercise = next(iter(content.exercises))
    plan = {"days": [0, 2, 4], "time": "18:00", "zone": "Europe/London"}
    return {
        "position": {"ladder": ladder, "exercise": exercise},
        "offer": {"ladder": ladder, "exercise": exercise},
        "schedule": plan,
        "draft": {**plan, "summary_day": 6},
        "goal": {"activity": "walking"},
    }


def _screen(name: str) -> Reader:
    return lambda text, content, now: read_answer(name, _data(content), Text(text), content, now)


def _confirmation(name: str) -> Reader:
    return lambda text, content, now: read_question(text, name, content.screening)


READERS: dict[str, Reader] = {
    **{f"screen {name}": _screen(name) for name, s in SCREENS.items() if s.reader != "none"},
    **{f"confirmation {name}": _confirmation(name) for name in MODALS},
    "safety question": _confirmation("safety"),  # the ask tier's yes/no (screens.SAFETY_CHECK)
    "check-in feedback": lambda text, content, now: read_feedback(text, content.feedback),
    "red-flag scan": lambda text, content, now: signals_red_flag(text, content.feedback),
    "safety screen": lambda text, content, now: screen(text, content.safety),  # reads every text first
}


def best_of(runs: int, action: Callable[[], Any]) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return min(timings)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reader", READERS)
def test_a_reply_of_the_longest_length_is_read_within_50_ms(reader, shape, content, now):
    text = SHAPES[shape]
    read = READERS[reader]
    read(text, content, now)  # caches warm: the lexicons are built once per content
    assert best_of(RUNS, lambda: read(text, content, now)) < LIMIT
