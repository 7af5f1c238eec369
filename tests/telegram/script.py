"""One script of user inputs, played through the terminal chat and through Telegram."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from hipcoach.bot.bootstrap import load_content
from hipcoach.flows import Choice, Command, Event, Message, State, Text, render_all, step
from hipcoach.flows.values import SetPosition

Buttons = tuple[tuple[tuple[str, str], ...], ...]
Shown = tuple[str, Buttons]


@dataclass(frozen=True)
class Step:
    """One thing the user does: type a text or a command, or press the button carrying `value`."""

    kind: Literal["text", "command", "press"]
    value: str

    @property
    def event(self) -> Event:
        """The engine event the step is, in any channel."""
        if self.kind == "press":
            return Choice(self.value)
        return Command(self.value[1:]) if self.kind == "command" else Text(self.value)

    @property
    def line(self) -> str:
        """The same input in the terminal chat, where typing a button's value presses it."""
        return self.value


# How the scripted user answers each question; a question not named here gets its most cautious button.
ANSWERS = {
    "consent": "yes",
    "red_flags_urgent": "no",
    "red_flags_clinician": "no",
    "kneeling_ok": "yes",
    "knee_issues": "no",
}
CAUTIOUS = ("skip", "none", "no", "later")
TYPED = {"load_pain": "yes, lifting hurts"}  # answered in words, not with a button
MAX_STEPS = 30


def _answer(values: list[str], answered: set[str]) -> Step:
    """The scripted user's next input, given the buttons of the newest message."""
    question = values[0].partition(":")[0]
    if question in TYPED:
        return Step("text", TYPED[question])
    if question == "equipment":  # tick one item, then finish
        return Step("press", "equipment:done" if "equipment" in answered else values[0])
    wanted = [f"{question}:{ANSWERS[question]}"] if question in ANSWERS else []
    wanted += [f"{question}:{answer}" for answer in CAUTIOUS]
    return Step("press", next((value for value in wanted if value in values), values[0]))


@cache
def onboarding() -> tuple[Step, ...]:
    """From /start to the first exercise, by buttons (one answer typed, one /help on the way).

    The steps are found by playing the policy above on the pure engine, so the script follows the
    onboarding flow as it grows; the tests then play the same steps through each channel.
    """
    content, now = load_content(), datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    steps = [Step("command", "/start")]
    outcome = step(State(), Command("start"), now, content)
    answered: set[str] = set()
    while not any(isinstance(effect, SetPosition) for effect in outcome.effects):
        assert len(steps) < MAX_STEPS, "onboarding did not reach a first exercise"
        values = [value for message in render_all(outcome.replies, content) for value in _values(message)]
        assert values, "onboarding stopped asking before a first exercise"
        if len(steps) == 3:
            next_step = Step("command", "/help")
        else:
            next_step = _answer(values, answered)
            answered.add(values[0].partition(":")[0])
        steps.append(next_step)
        outcome = step(outcome.state, next_step.event, now, content)
    return tuple(steps)


def _values(message: Message) -> list[str]:
    return [value for row in message.buttons for _, value in row]


def terminal_transcript(steps: tuple[Step, ...], workdir: Path, user: int = 4242) -> list[list[Shown]]:
    """What `hipcoach chat --json` answers to each step, on a fresh SQLite database."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hipcoach.bot",
            "chat",
            "--json",
            "--user",
            str(user),
            "--db",
            f"sqlite:///{workdir / 'terminal.db'}",
        ],
        input="".join(step.line + "\n" for step in steps),
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(workdir), "XDG_DATA_HOME": str(workdir)},
    )
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == len(steps), result.stderr
    return [[_seen(message) for message in turn] for turn in turns]


def _seen(message: dict[str, Any]) -> Shown:
    """A terminal message as Telegram shows it: without the lines saying where the terminal saved a file
    (Telegram sends the file itself)."""
    buttons = tuple(tuple((b["label"], b["value"]) for b in row) for row in message["buttons"])
    saved = load_content().message("terminal_file_saved").partition("{path}")
    lines = [line for line in message["text"].split("\n") if not line.startswith(saved[0])]
    return "\n".join(lines), buttons
