"""The shape of the pain-education notes: short notes given one at a time after counted sessions, and
the frightening words none of them may use (checked at load, each problem as field and reason)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EducationNote(_Strict):
    """One note: given once, after the user's `after_session`-th counted session."""

    id: str
    after_session: int = Field(ge=1, description="The counted session after which the note is due.")
    title: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=900)


class Education(_Strict):
    frightening_words: list[str] = Field(
        min_length=1, description="Words and phrases no note may use, matched as whole words in any case."
    )
    notes: list[EducationNote] = Field(min_length=1)


def frightening(text: str, words: list[str]) -> list[str]:
    """The frightening words in `text`, whole words in any case, any spacing between a phrase's words."""
    found = []
    for word in words:
        pattern = r"\s+".join(re.escape(part) for part in word.split())
        if re.search(rf"\b{pattern}\b", text, re.IGNORECASE):
            found.append(word)
    return found


def education_problems(education: Education) -> list[tuple[str, str]]:
    """Unique ids, notes in order of their sessions with one note a session, and no frightening word."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    previous = 0
    for index, note in enumerate(education.notes):
        where = f"notes.{index}"
        if note.id in seen:
            found.append((f"{where}.id", f"duplicate id '{note.id}'"))
        seen.add(note.id)
        if note.after_session <= previous:
            reason = f"after_session {note.after_session} must be later than the note before ({previous})"
            found.append((f"{where}.after_session", reason))
        previous = note.after_session
        for field in ("title", "text"):
            for word in frightening(getattr(note, field), education.frightening_words):
                found.append((f"{where}.{field}", f"uses the frightening word '{word}'"))
    return found
