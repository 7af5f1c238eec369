"""The vocabulary and rules the safety screen (flows/safety.py) reads every free text with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Phrases = Annotated[list[str], Field(min_length=1)]
Word = Annotated[str, Field(pattern=r"^[^\s]+$")]
Words = Annotated[list[Word], Field(min_length=1)]
Tier = Literal["urgent", "clinician", "ask"]
TIERS: tuple[Tier, ...] = ("urgent", "clinician", "ask")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sign(_Strict):
    """A sign is present when every concept of `all_of` is named, un-negated, within `reach` words.

    A concept of `none_of` named anywhere in the same sentence cancels it (a benign cause, such as
    numbness from sitting on a bike saddle).
    """

    id: str
    tier: Tier
    all_of: list[str] = Field(min_length=1)
    none_of: list[str] = Field(default_factory=list)
    reach: int = Field(default=10, ge=1, le=40, description="Most words from the first concept to the last.")


class AgeRule(_Strict):
    """A first-ever episode outside these ages is a clinician sign ('im 62 and its my first time')."""

    sign: str
    concept: str = Field(description="The concept that says it is a first episode.")
    youngest: int = Field(ge=0, le=120)
    oldest: int = Field(ge=0, le=120)
    before: Words = Field(description="Words that lead to an age: im, aged, age ...")
    after: Words = Field(description="Words that follow an age: years, yo ...")


class Fuzzy(_Strict):
    """How far a typed word may be from a vocabulary word to count as it (a typo)."""

    min_length: int = Field(ge=3, le=20, description="Shorter words are never corrected.")
    long_length: int = Field(ge=3, le=30, description="From this length two edits are allowed.")
    never_correct: Words = Field(description="Real words close to a vocabulary word: towel, grown ...")


class Question(_Strict):
    """A yes/no follow-up for the ask tier; `yes` raises these urgent signs."""

    id: str
    signs: list[str] = Field(min_length=1)


class SafetyVocabulary(_Strict):
    """Concepts (named phrase lists), the signs built from them, and the follow-up questions."""

    negations: Words
    negation_window: int = Field(ge=1, le=6)
    negation_breaks: Words
    negation_carriers: Words
    scope_breaks: Words = Field(description="End another person's reach: 'my mum has cancer, so i ...'.")
    scope_continues: list[Word] = Field(
        default_factory=list, description="After a break, keep the same person: 'my gran is 90 and has ...'."
    )
    concepts: dict[str, Phrases] = Field(min_length=1)
    emoji: dict[str, str] = Field(default_factory=dict, description="An emoji read as a word: 🍑 bum.")
    ignored_phrases: list[str] = Field(description="Read as nothing: 'wee bit', 'fell asleep' ...")
    other_people: Phrases = Field(description="A sign said of someone else is not the user's.")
    hypothetical: Phrases = Field(
        description="A sign asked about ('what if ...') is asked back, not assumed."
    )
    signs: list[Sign] = Field(min_length=1)
    age: AgeRule
    fuzzy: Fuzzy
    questions: list[Question] = Field(min_length=1)
    follow_up: dict[str, list[str]] = Field(description="Ask-tier sign -> question ids, in order.")
    clearance: dict[str, Phrases] = Field(
        description="Concepts of an explicit clearance: who, what they said, and what cancels it."
    )
    assessed: dict[str, Phrases] = Field(
        description="Concepts of 'a clinician has seen me' after an urgent stop."
    )

    @model_validator(mode="after")
    def _references_exist(self) -> SafetyVocabulary:
        concepts = set(self.concepts)
        for sign in self.signs:
            unknown = sorted(set(sign.all_of + sign.none_of) - concepts)
            if unknown:
                raise ValueError(f"sign '{sign.id}' names unknown concepts: {', '.join(unknown)}")
        if self.age.concept not in concepts:
            raise ValueError(f"age rule names unknown concept '{self.age.concept}'")
        questions = {q.id for q in self.questions}
        ask_signs = {s.id for s in self.signs if s.tier == "ask"}
        for sign_id, asked in self.follow_up.items():
            if sign_id not in ask_signs:
                raise ValueError(f"follow_up names '{sign_id}', which is not an ask-tier sign")
            if set(asked) - questions:
                raise ValueError(f"follow_up of '{sign_id}' names unknown questions")
        missing = sorted(ask_signs - set(self.follow_up))
        if missing:
            raise ValueError(f"ask-tier signs without follow_up questions: {', '.join(missing)}")
        for rule in (self.clearance, self.assessed):
            if not {"who", "said", "cancel"} <= set(rule):
                raise ValueError("clearance and assessed need the concepts who, said and cancel")
        return self

    def urgent_sign_ids(self) -> set[str]:
        return {sign.id for sign in self.signs if sign.tier == "urgent"}
