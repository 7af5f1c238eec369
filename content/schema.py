"""The shape of Hip Coach content: pydantic models for every YAML file under a content directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hipcoach.content.agenda_schema import AgendaRules
from hipcoach.content.education_schema import Education
from hipcoach.content.feedback_schema import FeedbackVocabulary
from hipcoach.content.keyframes_schema import Keyframes
from hipcoach.content.plurals import Plural
from hipcoach.content.safety_schema import SafetyVocabulary
from hipcoach.content.schedule_schema import ScheduleSettings

Id = str


class Strict(BaseModel):
    """A content model that rejects unknown fields, so a typo in YAML is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Dose(Strict):
    sets: int = Field(ge=1, le=10)
    reps: int | None = Field(default=None, ge=1, le=50)
    seconds: int | None = Field(default=None, ge=1, le=600)
    per_side: bool = False
    tempo: str
    rest_seconds: int = Field(ge=0, le=600)

    @model_validator(mode="after")
    def _reps_or_seconds(self) -> Dose:
        if self.reps is None and self.seconds is None:
            raise ValueError("a dose needs reps or seconds")
        return self


class Demands(Strict):
    """What an exercise asks of the body; the screening rules and the places to spare read these."""

    kneeling: bool
    floor: bool
    spinal_load: Literal["none", "low", "moderate", "high"]
    knee_bend_under_load: bool
    weight_on_arms: bool = Field(description="Body weight on the hands or forearms: four-point, planks.")
    hamstring_stretch: bool = Field(description="Hinges to the hamstrings' length while standing.")
    hip_end_range: bool = Field(
        description="Takes a hip to the end of its range: deep bend, rotation, stretch."
    )
    fast_hip_drive: bool = Field(description="A fast, ballistic drive from the hips: the swing.")


# The yes/no demands a place to spare can name (progression.yaml `spare_places`).
PLACE_DEMANDS = ("kneeling", "floor", "knee_bend_under_load", "weight_on_arms", "hamstring_stretch",
                 "hip_end_range", "fast_hip_drive")  # fmt: skip


class Fault(Strict):
    fault: str
    fix: str


class Exercise(Strict):
    id: Id
    name: str
    why: str
    setup: str
    steps: list[str] = Field(min_length=2)
    cues: list[str] = Field(min_length=2, max_length=4)
    faults: list[Fault] = Field(min_length=1)
    dose: Dose
    equipment: list[Id] = Field(
        default_factory=list, description="Any one of these is enough; empty means none needed."
    )
    demands: Demands
    difficulty: int = Field(ge=1, le=10, description="1 gentlest to 10 hardest; rises along each ladder")
    easier: Id | None = None
    harder: Id | None = None
    safety: str


class Ladder(Strict):
    id: Id
    name: str
    rungs: list[Id] = Field(min_length=1)


class Equipment(Strict):
    id: Id
    label: str
    synonyms: list[str] = Field(default_factory=list)


class RedFlagTier(Strict):
    """One red-flag question: any 'yes' leads to the tier's outcome."""

    id: Literal["urgent", "clinician"]
    signs: list[str] = Field(min_length=1)


class YesNoQuestion(Strict):
    id: Id
    yes_phrases: list[str] = Field(default_factory=list)
    no_phrases: list[str] = Field(default_factory=list)


class Screening(Strict):
    red_flags: list[RedFlagTier] = Field(min_length=2, max_length=2)
    questions: list[YesNoQuestion] = Field(min_length=1)
    equipment: list[Equipment] = Field(min_length=1)
    yes_phrases: list[str] = Field(min_length=1)
    no_phrases: list[str] = Field(min_length=1)
    negations: list[str] = Field(min_length=1, description="Words that flip the phrase after them.")
    goal_examples: list[str] = Field(min_length=1, max_length=6, description="Everyday activities offered.")
    goal_activity_max: int = Field(ge=10, le=200, description="Longest activity text kept.")
    none_phrases: list[str] = Field(min_length=1, description="Free text meaning 'no equipment'.")
    done_phrases: list[str] = Field(min_length=1, description="Free text that ends a multi-select.")


class StartRule(Strict):
    """One row of the starting-point decision table."""

    load_pain: bool
    can_kneel: bool = Field(description="kneeling_ok and not knee_issues")
    start: Id
    reason: Id = Field(description="Message key that explains the choice in one sentence.")


class StartingPoint(Strict):
    ladder: Id
    table: list[StartRule] = Field(min_length=1)


class DoseStep(Strict):
    """A change to an exercise's base dose: sets, reps or seconds added (or taken away if negative)."""

    sets: int = Field(default=0, ge=-5, le=5)
    reps: int = Field(default=0, ge=-20, le=20)
    seconds: int = Field(default=0, ge=-120, le=120)


class DoseLevels(Strict):
    """Levels above the base (`up`, in order) and below it (`down`), with floors no dose goes under."""

    up: list[DoseStep] = Field(min_length=1)
    down: list[DoseStep] = Field(min_length=1)
    min_reps: int = Field(ge=1)
    min_seconds: int = Field(ge=1)


class PlanStage(Strict):
    """Below rung `until_rung` of the main ladder, the accessory comes from `ladder`."""

    until_rung: int = Field(ge=1)
    ladder: str


class SessionPlan(Strict):
    """A session's parts: a warm-up ladder, the main ladder, and accessory ladders by stage."""

    warm_up_ladder: str
    main_ladder: str
    accessory: list[PlanStage] = Field(min_length=1)


class SparedPlace(Strict):
    """A place that hurt during a session (a check-in location, feedback.yaml) and the demands that
    load it: the decision looks for the nearest easier rung without them."""

    demands: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_demands(self) -> SparedPlace:
        unknown = [d for d in self.demands if d not in PLACE_DEMANDS]
        if unknown:
            raise ValueError(f"unknown demand '{unknown[0]}'; one of {', '.join(PLACE_DEMANDS)}")
        return self


class KettlebellLoad(Strict):
    """The last step of the dose on rungs done with a kettlebell: a heavier bell, in plain guidance."""

    equipment: str = Field(description="The equipment id that makes a rung loaded by a bell.")
    max_steps: int = Field(ge=0, le=6, description="Heavier bells on one exercise before the next rung.")
    start_kg_women: tuple[int, int]
    start_kg_men: tuple[int, int]
    step_kg: tuple[int, int]


class FlarePlan(Strict):
    """A flare-up: the dose comes down `levels` at once, `days` of the lighter plan, then a staged
    return: one level back up per good counted session until the dose before the flare."""

    levels: int = Field(ge=1, le=6)
    days: int = Field(ge=1, le=14)


class PlanCheckin(Strict):
    """The one tap about the rest of the plan (warm-up and accessory) after the main exercise's
    check-in: typed phrases per answer, and how many counted sessions a part that hurt rests."""

    phrases: dict[Literal["fine", "skipped", "warm_up", "accessory"], list[str]]
    rest_sessions: int = Field(ge=1, le=14)


class ProgressionRules(Strict):
    """Thresholds of the pain-monitoring model and the sticking-point rules."""

    pain_safe_max: int = Field(ge=0, le=10)
    pain_acceptable_max: int = Field(ge=0, le=10)
    good_sessions_to_progress: int = Field(ge=1)
    progress_efforts: list[Literal["easy", "ok", "hard"]]
    progress_mornings: list[Literal["better", "same", "worse"]]
    worse_mornings_to_simplify: int = Field(ge=1)
    session_checkin_hours: int = Field(ge=1, le=48)
    dose_levels: DoseLevels
    min_sessions_on_rung: int = Field(ge=1)
    min_days_on_rung: int = Field(ge=0)
    min_days_on_loaded_rung: int = Field(ge=0)
    rest_day_hours: int = Field(ge=12, le=96)
    return_after_days: int = Field(ge=1, le=365)
    session_plan: SessionPlan
    flare: FlarePlan
    spare_places: dict[str, SparedPlace] = Field(min_length=1)
    spare_harder_max: int = Field(ge=0, le=3, description="How much harder a sparing rung may be.")
    kettlebell: KettlebellLoad
    plan_checkin: PlanCheckin
    trend_window_days: int = Field(ge=1)
    trend_min_sessions: int = Field(ge=1)
    trend_rise: float = Field(gt=0)
    sticking_window_days: int = Field(ge=1)
    sticking_simplifications: int = Field(ge=1)
    sticking_holds: int = Field(ge=1)
    sticking_ignores: list[str] = Field(default_factory=list)
    sticking_min_days: int = Field(ge=0)
    detour_sessions: int = Field(ge=1)
    history_kept: int = Field(ge=4)
    alternatives: dict[Id, list[Id]]
    morning_phrases: dict[Literal["better", "same", "worse"], list[str]]
    summary_weeks: int = Field(ge=1, le=52)
    chart_weeks: int = Field(ge=1, le=52)
    goal_meaningful_change: int = Field(ge=1, le=10)
    goal_recheck_days: int = Field(ge=1, le=90)

    @model_validator(mode="after")
    def _ordered(self) -> ProgressionRules:
        if self.pain_safe_max > self.pain_acceptable_max:
            raise ValueError("pain_safe_max must not exceed pain_acceptable_max")
        return self


class Content(Strict):
    """Everything the coach knows, loaded and cross-checked."""

    exercises: dict[Id, Exercise]
    ladders: dict[Id, Ladder]
    screening: Screening
    starting_point: StartingPoint
    progression: ProgressionRules
    schedule: ScheduleSettings
    feedback: FeedbackVocabulary
    safety: SafetyVocabulary
    agenda: AgendaRules
    keyframes: Keyframes
    education: Education
    messages: dict[str, dict[str, str | Plural]] = Field(
        description="locale -> key -> template, or a template per plural form (content/plurals.py)"
    )

    def message(self, key: str, locale: str = "en") -> str:
        """A message without a count; a plural message needs its parameters: use `template`."""
        value = self.messages[locale][key]
        if isinstance(value, Plural):
            raise TypeError(f"message {key!r} has plural forms; use Content.template(key, params)")
        return value

    def template(self, key: str, params: Mapping[str, object], locale: str = "en") -> str:
        """The message's template; a plural message gives the form for its count in `params`."""
        value = self.messages[locale][key]
        return value.choose(params, locale) if isinstance(value, Plural) else value

    def text(self, key: str, locale: str = "en", /, **params: object) -> str:
        """The message filled in with `params`, in the plural form their count asks for."""
        return self.template(key, params, locale).format(**params)
