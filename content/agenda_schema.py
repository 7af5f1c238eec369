"""The shape of the agenda's rules: which open item comes first, how long each stays open, and the
words that answer a session prompt or start a session while nothing else is asked."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Kind = Literal["checkin", "morning", "session", "offer", "goal"]
KINDS: tuple[Kind, ...] = ("checkin", "morning", "session", "offer", "goal")
Phrases = Annotated[list[str], Field(min_length=1)]


def _clock(value: object) -> object:
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        return time(int(value[:2]), int(value[3:]))
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionAnswers(_Strict):
    """Typed answers to a session prompt, by the button they stand for."""

    start: Phrases
    snooze_30: Phrases
    snooze_120: Phrases
    skip: Phrases


class AgendaRules(_Strict):
    """Open items are asked one at a time in `priority` order; each expires after its lifetime."""

    priority: list[Kind] = Field(min_length=len(KINDS))
    lifetime_hours: dict[Kind, int] = Field(description="How long an item stays open once it is due.")
    morning_from: Annotated[time, BeforeValidator(_clock)] = Field(
        description="Local time from which the question about the morning after a session is asked."
    )
    session_answers: SessionAnswers
    start_words: Phrases = Field(description="While nothing is asked: 'lets go', 'ready' start a session.")
    question_words: Phrases = Field(description="A text that asks something gets /help's answer.")
    flare_words: Phrases = Field(description="Free text about a flare-up starts the flare-up plan.")

    @model_validator(mode="after")
    def _every_kind_once(self) -> AgendaRules:
        if sorted(self.priority) != sorted(KINDS):
            raise ValueError(f"priority must name each of {', '.join(KINDS)} once")
        missing = sorted(set(KINDS) - set(self.lifetime_hours))
        if missing:
            raise ValueError(f"lifetime_hours misses {', '.join(missing)}")
        if any(hours <= 0 for hours in self.lifetime_hours.values()):
            raise ValueError("every lifetime must be at least one hour")
        return self
