"""The vocabulary the check-in parser (flows/feedback.py) reads free text with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hipcoach.content.safety_schema import Fuzzy

Phrases = Annotated[list[str], Field(min_length=1)]
Word = Annotated[str, Field(pattern=r"^[^\s]+$")]
Words = Annotated[list[Word], Field(min_length=1)]
Score = Annotated[int, Field(ge=0, le=10)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EffortWords(_Strict):
    """Phrases for each effort answer; when a text names several, the hardest wins."""

    easy: Phrases
    ok: Phrases
    hard: Phrases


class ControlWords(_Strict):
    """Phrases for each control answer; when a text names several, the worst wins."""

    smooth: Phrases
    wobbly: Phrases
    lost: Phrases


class RedFlagSign(_Strict):
    """A sign is present when one phrase of every group appears, un-negated, in one sentence."""

    id: str
    all_of: list[Phrases] = Field(min_length=1)


class FeedbackVocabulary(_Strict):
    """Word lists for reading a check-in such as 'back hurt about 6/10, a bit wobbly'."""

    pain_words: Phrases = Field(description="Say that something hurt: pain, sore, twinge ...")
    no_pain_phrases: Phrases = Field(description="Mean pain 0 on their own: pain free, painless ...")
    negations: Words = Field(description="Single words that negate the phrase shortly after them.")
    negation_window: int = Field(ge=1, le=6, description="How many words back a negation reaches.")
    negation_breaks: Words = Field(description="Words that end a negation's reach: but, and, though ...")
    negation_carriers: Words = Field(description="Words that carry a negation on: 'no numbness or tingling'.")
    softeners: Words = Field(description="Near a negated pain word, mean 'some pain': 'not much pain'.")
    number_words: dict[Word, Score] = Field(min_length=1)
    scale_markers: Phrases = Field(description="After a number, make it a 0-10 score: '/ 10', 'out of ten'.")
    range_joiners: Words = Field(description="Join two numbers into a range: '3-4', '3 to 4', '3 or 4'.")
    score_fillers: Words = Field(
        description="May stand between a pain word and its number: 'pain was about 3'."
    )
    not_pain_words: Words = Field(
        description="Next to a number, make it no pain score: '10 reps', 'effort 7'."
    )
    scale_names: list[Word] = Field(
        default_factory=list, description="Name another scale: 'pain 3 effort ok' is still pain 3."
    )
    place_states: list[str] = Field(
        default_factory=list, description="After a place, say it is fine: 'knee fine', 'back was ok'."
    )
    fuzzy: Fuzzy
    effort: EffortWords
    control: ControlWords
    locations: dict[str, Phrases] = Field(min_length=1, description="Canonical location -> synonyms.")
    ignored_phrases: list[str] = Field(
        default_factory=list, description="Read as nothing, so 'rock back' or 'glute bridge' is no location."
    )
    red_flags: list[RedFlagSign] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_meaning_per_phrase(self) -> FeedbackVocabulary:
        seen: dict[str, str] = {}
        for meaning, phrases in self._meanings():
            for phrase in phrases:
                key = " ".join(phrase.lower().split())
                if key in seen and seen[key] != meaning:
                    raise ValueError(f"'{phrase}' means both {seen[key]} and {meaning}")
                seen[key] = meaning
        return self

    def _meanings(self) -> Iterable[tuple[str, list[str]]]:
        yield from ((f"effort {name}", words) for name, words in self.effort.model_dump().items())
        yield from ((f"control {name}", words) for name, words in self.control.model_dump().items())
        yield from ((f"location {name}", words) for name, words in self.locations.items())
        yield ("no pain", self.no_pain_phrases)
        yield ("ignored", self.ignored_phrases)
