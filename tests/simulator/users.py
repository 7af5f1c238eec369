"""A seeded population of simulated users: what they tell screening, when they train, and a hidden
body that answers each session truthfully from its capacity (not from what the coach believes).

Capacity is on the scale of an exercise's `difficulty` (content/data/exercises.yaml): a user can do an
exercise comfortably while the load (difficulty, shifted by the dose level) sits at least `EDGE` below
their capacity that day, is at the edge of what they can do within `EDGE` of it, and beyond it above.
Capacity moves with the weeks: up for improving users, down in a flare for flaring ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from hipcoach.content.schema import Content, Exercise
from hipcoach.flows.progression import loads_place
from hipcoach.flows.starting import choose_start

Trajectory = Literal["improving", "steady", "flaring", "knee", "hip", "hamstring"]
SORE_PLACES = ("knee", "hip", "hamstring")  # trajectories whose place hurts when an exercise loads it
Zone = Literal["within", "edge", "beyond"]

FRAGILE = 0.1  # share of users for whom the first rung is already at or past their capacity
EDGE = 0.5  # capacity margin below which a set is hard and a bit wobbly
LEVEL_LOAD = 0.15  # how much one dose level adds to an exercise's difficulty
BELL_LOAD = 0.3  # how much the next kettlebell up adds
DAILY_NOISE = 0.25  # day-to-day variation of capacity (standard deviation)
EQUIPMENT = ("kettlebell", "dumbbells", "barbell", "band_cable", "dowel", "box_step")
DAY_PRESETS = ("mon_wed_fri", "tue_thu_sat", "mon_thu", "weekdays")
TYPED_DAYS = ("mon wed fri", "tue, thu and sat", "monday and thursday", "weekdays")
TIMES = (("schedule_time:0730", "7:30"), ("schedule_time:1800", "6pm"), ("schedule_time:2000", "8pm"))
ZONES = ("London", "Berlin", "New York", "Sydney", "utc")
EFFORT_WORDS = {"easy": ("easy", "pretty easy"), "ok": ("about right", "ok"), "hard": ("hard", "tough")}
CONTROL_WORDS = {
    "smooth": ("smooth", "nice and smooth", "controlled"),
    "wobbly": ("a bit wobbly", "wobbly"),
    "lost": ("lost form", "my form went"),
}
TEMPLATES = (
    "pain {pain}, {effort}, {control}",
    "{pain}/10, {effort}, {control}",
    "about a {pain}, {effort}, {control}",
)
PLACE_TEMPLATES = (
    "{place} pain {pain}, {effort}, {control}",
    "my {place} hurt, about a {pain}, {effort}, {control}",
    "{place} was sore, {pain}/10 but back fine, {effort}, {control}",
)
MORNING_WORDS = {
    "better": ("better", "a bit better"),
    "same": ("the same", "no change"),
    "worse": ("worse", "stiffer"),
}


@dataclass(frozen=True)
class Report:
    """What the body felt in a session, and how the user says it."""

    pain: int
    effort: str
    control: str
    morning: str  # better / same / worse: the truth for the next morning
    zone: Zone
    place: str | None = None  # where it hurt, when not the back (a sore knee, hip or hamstring)
    text: str | None = None  # the typed check-in, or None to answer with buttons

    @property
    def exceeded(self) -> bool:
        """The session asked more than the user's capacity (or their sore place) could give."""
        return self.zone == "beyond" or self.place is not None


@dataclass
class User:
    seed: int
    trajectory: Trajectory
    load_pain: bool
    kneeling_ok: bool
    knee_issues: bool  # what screening is told
    sore_place: str | None  # the truth: this place hurts whenever an exercise loads it
    equipment: tuple[str, ...]
    days: str  # a day preset id
    time: tuple[str, str]  # (button, typed)
    zone: str
    base: float  # capacity on day 0
    growth: float  # capacity change per week
    flare: tuple[int, int, float] | None  # (start day, length in days, drop)
    offsets: dict[str, float]  # per-exercise capacity offsets
    typing: float  # chance of typing rather than pressing buttons
    skip_rate: float
    snooze_rate: float
    morning_rate: float  # chance of answering the morning prompt when it comes
    quiet: tuple[int, int] | None  # (first day, days) of going quiet
    arrives: float  # hours after the simulation's start when the user first writes
    rng: random.Random = field(repr=False, compare=False, default_factory=random.Random)

    @property
    def answers(self) -> dict:
        return {
            "load_pain": self.load_pain,
            "kneeling_ok": self.kneeling_ok,
            "knee_issues": self.knee_issues,
            "equipment": list(self.equipment),
        }

    def capacity(self, exercise: str, day: float) -> float:
        """The difficulty this user can handle on this exercise that day (without daily noise)."""
        weeks = day / 7
        value = self.base + self.growth * weeks
        if self.flare is not None:
            start, length, drop = self.flare
            if start <= day < start + length:
                value -= drop
            elif day >= start + length:  # recovering over as long again
                value -= drop * max(0.0, 1 - (day - start - length) / length)
        return value + self.offsets.get(exercise, 0.0)

    def is_quiet(self, day: float) -> bool:
        return self.quiet is not None and self.quiet[0] <= day < self.quiet[0] + self.quiet[1]

    def typed(self) -> bool:
        return self.rng.random() < self.typing

    def session(self, exercise: Exercise, level: int, day: float, content: Content, bells: int = 0) -> Report:
        """How a session on `exercise` at dose `level` with `bells` heavier kettlebells goes on `day`,
        and how the user says so."""
        rng = self.rng
        load = exercise.difficulty + LEVEL_LOAD * level + BELL_LOAD * bells
        margin = self.capacity(exercise.id, day) + rng.gauss(0, DAILY_NOISE) - load
        if self.sore_place and loads_place(exercise, self.sore_place, content):
            pain = rng.randint(6, 8)
            words = {"pain": pain, "effort": "hard", "control": rng.choice(CONTROL_WORDS["wobbly"])}
            text = rng.choice(PLACE_TEMPLATES).format(place=self.sore_place, **words)
            return Report(pain, "hard", "wobbly", "worse", "beyond", place=self.sore_place, text=text)
        if margin >= EDGE:
            pain = min(3, max(0, int(3 - margin + rng.random() * 2)))
            effort = "easy" if margin > 1.5 and rng.random() < 0.7 else "ok"
            report = Report(pain, effort, "smooth", rng.choice(("better", "same", "same")), "within")
        elif margin >= 0:
            control = "wobbly" if rng.random() < 0.7 else "smooth"
            report = Report(
                rng.randint(4, 5), "hard", control, rng.choice(("same", "same", "better")), "edge"
            )
        else:
            kind = rng.random()
            if kind < 0.5:  # it hurt
                report = Report(rng.randint(6, 8), "hard", rng.choice(("wobbly", "lost")), "worse", "beyond")
            elif kind < 0.8:  # form broke down
                report = Report(rng.randint(3, 5), "hard", "lost", "worse", "beyond")
            else:  # stoic: says it was hard, the morning tells
                report = Report(rng.randint(4, 5), "hard", "wobbly", "worse", "beyond")
        if not self.typed():
            return report
        words = {
            "pain": report.pain,
            "effort": rng.choice(EFFORT_WORDS[report.effort]),
            "control": rng.choice(CONTROL_WORDS[report.control]),
        }
        return Report(**{**report.__dict__, "text": rng.choice(TEMPLATES).format(**words)})

    def morning_answer(self, reports: list[Report]) -> str:
        """How the back is this morning, after the sessions not yet asked about (the worst of them)."""
        if not reports:
            return "same"
        return max((r.morning for r in reports), key=("better", "same", "worse").index)

    def morning_text(self, answer: str) -> str:
        return self.rng.choice(MORNING_WORDS[answer])


def make_user(seed: int, content: Content) -> User:
    """One user, the same for the same seed."""
    rng = random.Random(seed)
    trajectory: Trajectory = rng.choices(
        ("improving", "steady", "flaring", "knee", "hip", "hamstring"), (40, 17, 18, 11, 7, 7)
    )[0]
    knee_trouble = trajectory == "knee"
    load_pain = rng.random() < 0.35
    kneeling_ok = rng.random() < (0.3 if knee_trouble else 0.75)
    knee_issues = rng.random() < (0.5 if knee_trouble else 0.1)
    equipment = tuple(item for item in EQUIPMENT if rng.random() < 0.3)
    if rng.random() < 0.4 and "kettlebell" not in equipment:
        equipment = ("kettlebell", *equipment)
    answers = {"load_pain": load_pain, "kneeling_ok": kneeling_ok, "knee_issues": knee_issues}
    start = content.exercises[choose_start(answers, content.starting_point).start].difficulty
    # most can do the first rung with room to spare; a few find even that too much at first
    base = start + (rng.uniform(-1.0, 0.3) if rng.random() < FRAGILE else rng.uniform(0.3, 1.8))
    growth = {"improving": rng.uniform(0.3, 0.7), "steady": rng.uniform(-0.05, 0.1)}.get(
        trajectory, rng.uniform(0.1, 0.4)
    )
    flare = None
    if trajectory == "flaring":
        flare = (rng.randint(10, 60), rng.randint(5, 21), rng.uniform(1.5, 3.0))
    offsets = {exercise: rng.gauss(0, 0.25) for exercise in content.exercises}
    skipper = rng.random() < 0.2
    quiet = (rng.randint(7, 60), rng.randint(7, 21)) if rng.random() < 0.2 else None
    return User(
        seed=seed,
        trajectory=trajectory,
        load_pain=load_pain,
        kneeling_ok=kneeling_ok,
        knee_issues=knee_issues,
        sore_place=trajectory if trajectory in SORE_PLACES else None,
        equipment=equipment,
        days=rng.choice(DAY_PRESETS),
        time=rng.choice(TIMES),
        zone=rng.choice(ZONES),
        base=base,
        growth=growth,
        flare=flare,
        offsets=offsets,
        typing=rng.choice((0.0, 0.3, 0.7, 1.0)),
        skip_rate=rng.uniform(0.3, 0.5) if skipper else rng.uniform(0.0, 0.1),
        snooze_rate=rng.uniform(0.0, 0.2),
        morning_rate=rng.uniform(0.7, 1.0),
        quiet=quiet,
        arrives=rng.uniform(0, 14),
        rng=random.Random(seed * 7919 + 1),
    )


def population(size: int, content: Content, first_seed: int = 0) -> list[User]:
    return [make_user(seed, content) for seed in range(first_seed, first_seed + size)]
