"""Drive simulated users (tests/simulator/users.py) through the real engine for twelve weeks and measure
the coaching: what was decided after what the body really felt, where each rung began and ended.

Prompts are simulated as in tests/unit/test_agenda_properties.py: a table of the latest due time per
kind, filled by SchedulePrompt and emptied by CancelPrompts, fired in time order. Every turn is
recorded; `figures()` turns the runs into the numbers of issue 13. `python -m tests.simulator.run
[USERS]` prints them as JSON.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows import Choice, Due, Event, State, Text, render_all, step
from hipcoach.flows.dose import bounds
from hipcoach.flows.load import uses_bell
from hipcoach.flows.plan_checkin import UNANSWERED
from hipcoach.flows.progression import exclusion, loads_place, neighbour
from hipcoach.flows.values import (
    RecordCheckIn,
    RecordDecision,
    RecordMorning,
    SetPosition,
)
from tests.chat import PromptTable
from tests.simulator.users import DAY_PRESETS, EDGE, TYPED_DAYS, Report, User, make_user

START = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # a Monday morning
WEEKS = 12
LOADED_HINGE_FROM = "kettlebell_deadlift"  # this rung and every harder one on the hinge ladder
LOADED_BY_WEEK = 8
LOWERED_WITHIN = 2  # counted sessions after capacity was first exceeded
MAX_ANSWERS = 12  # replies a user gives to one prompt before the simulator calls it a loop
DELAYS = (1, 3, 10, 30, 90)  # minutes before a user answers a prompt


@dataclass
class Session:
    """One concluded check-in: what the body felt, what the coach read, and the morning said."""

    at: datetime
    exercise: str
    level: int
    bells: int  # heavier kettlebells it was done with
    report: Report
    counted: bool
    read: dict[str, Any]  # the engine's history entry
    morning: str | None = None

    @property
    def misread(self) -> bool:
        said = (self.report.pain, self.report.effort, self.report.control)
        read = (self.read.get(k) for k in ("pain", "effort", "control"))
        return any(r not in (s, UNANSWERED) for s, r in zip(said, read, strict=True))


@dataclass
class Decision:
    at: datetime
    kind: str
    reason: str
    exercise: str
    level: int  # the dose level after it
    bells: int  # heavier kettlebells after it
    before: tuple[str, int]  # (exercise, level) before it
    session: int  # index of the latest session when it was made


@dataclass
class Placement:
    at: datetime
    exercise: str
    reason: str
    kind: str  # the decision kind that moved the user, or "start" / "switch"


@dataclass
class Run:
    user: User
    sessions: list[Session] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    dead_ends: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    flares: int = 0  # flare-ups the user told the coach about
    flare_steps_up: list[str] = field(default_factory=list)  # progress in the lighter flare days
    parts: dict[str, int] = field(default_factory=dict)  # answers to the tap about the rest of the plan


class Driver:
    """One simulated user talking to the engine, with the prompt table the shell would keep."""

    def __init__(self, user: User, content: Content) -> None:
        self.user = user
        self.content = content
        self.state = State()
        self.now = START + timedelta(hours=user.arrives)
        self.prompts = PromptTable()
        self.run = Run(user)
        self.pending: tuple[str, int, int, Report] | None = None  # the session under way
        self.snoozed = False
        self.flare_told = 0.0  # the day the user last told the coach about a flare-up

    # ---- one turn ----

    def send(self, event: Event) -> None:
        outcome = step(self.state, event, self.now, self.content)
        before = self.state.data.get("position") or {}
        self.state = outcome.state
        for effect in outcome.effects:
            self._effect(effect, before)
        if isinstance(event, Due):
            return
        messages = render_all(outcome.replies, self.content)
        if not messages or not (messages[-1].buttons or "/" in messages[-1].text):
            self.run.dead_ends.append(
                f"seed {self.user.seed} day {self.day:.1f}: {event!r} in {self.state.name}"
            )

    def _effect(self, effect: Any, before: dict[str, Any]) -> None:
        self.prompts.apply(effect)
        if isinstance(effect, RecordCheckIn):
            self._checked_in()
        elif isinstance(effect, RecordMorning):
            for session in self.run.sessions:
                if session.at >= effect.since and session.morning is None:
                    session.morning = effect.answer
        elif isinstance(effect, RecordDecision):
            position = self.state.data["position"]
            plan = self.state.data.get("flare")
            if effect.kind == "progress" and plan and self.now < datetime.fromisoformat(plan["until"]):
                self.run.flare_steps_up.append(f"seed {self.user.seed} day {self.day:.1f}: {effect.reason}")
            self.run.decisions.append(
                Decision(
                    self.now,
                    effect.kind,
                    effect.reason,
                    effect.exercise,
                    position.get("level", 0),
                    position.get("load", 0),
                    (before.get("exercise", ""), before.get("level", 0)),
                    len(self.run.sessions) - 1,
                )
            )
        elif isinstance(effect, SetPosition):
            kind = "switch" if effect.reason == "sticking_switch" else "start"
            if self.run.decisions and self.run.decisions[-1].at == self.now:
                kind = self.run.decisions[-1].kind if kind != "switch" else kind
            self.run.placements.append(Placement(self.now, effect.exercise, effect.reason, kind))

    def _checked_in(self) -> None:
        entry = self.state.data["history"][-1]
        if self.pending is None:
            self.run.anomalies.append(f"seed {self.user.seed} day {self.day:.1f}: a check-in with no session")
            return
        exercise, level, bells, report = self.pending
        self.pending = None
        self.run.sessions.append(
            Session(self.now, exercise, level, bells, report, bool(entry.get("counted")), entry)
        )

    @property
    def day(self) -> float:
        return (self.now - START) / timedelta(days=1)

    def press(self, value: str) -> None:
        self.send(Choice(value))

    def say(self, text: str) -> None:
        self.send(Text(text))

    def either(self, button: str, text: str) -> None:
        self.say(text) if self.user.typed() else self.press(button)

    # ---- the user's side ----

    def onboard(self) -> None:
        user = self.user
        yn = {True: "yes", False: "no"}
        self.say("hello")
        for value in ("consent:yes", "red_flags_urgent:no", "red_flags_clinician:no"):
            self.press(value)
        for question in ("load_pain", "kneeling_ok", "knee_issues"):
            answer = yn[getattr(user, question)]
            self.either(f"{question}:{answer}", answer)
        for item in user.equipment:
            self.press(f"equipment:{item}")
        self.press("equipment:done" if user.equipment else "equipment:none")
        self.press(f"goal_activity:{user.rng.randint(0, 4)}")
        self.press(f"goal_rating:{user.rng.randint(3, 8)}")
        if self.state.name != "session":
            self.run.anomalies.append(f"seed {user.seed}: onboarding ended in {self.state.name}")
        self.respond(first=True)

    def respond(self, from_prompt: str | None = None, first: bool = False) -> None:
        """Answer whatever the coach asks now, as this user would, until nothing is asked."""
        user = self.user
        for _ in range(MAX_ANSWERS):
            if user.is_quiet(self.day):
                return
            name = self.state.name
            if self.state.data.get("safety_check"):  # the safety questions again: none of the signs
                self.press("safety:no")
                continue
            if name == "idle":
                return
            if name == "session_offer":
                roll = user.rng.random()
                if roll < user.skip_rate:
                    self.either("session_offer:skip", "skip today")
                elif roll < user.skip_rate + user.snooze_rate and not self.snoozed:
                    self.snoozed = True
                    self.either("session_offer:snooze_30", "in 30")
                else:
                    self.snoozed = False
                    self.either("session_offer:start", "lets go")
            elif name == "session":
                self.now += timedelta(minutes=user.rng.randint(15, 35))
                self.pending = self._train()
                self.either("session:done", "done")
            elif name == "checkin_parts":
                self._parts()
            elif name.startswith("checkin_"):
                self._checkin(name)
            elif name == "morning_check":
                if from_prompt == "morning" and user.rng.random() > user.morning_rate:
                    return  # asked again at the next contact, or it lapses
                latest = user.morning_answer([s.report for s in self.run.sessions[-3:] if s.morning is None])
                self.either(f"morning_check:{latest}", user.morning_text(latest))
            elif name == "sticking_offer":
                self.press(f"sticking_offer:{user.rng.choice(('yes', 'no'))}")
            elif name == "goal_recheck":
                self.press(f"goal_recheck:{user.rng.randint(2, 7)}")
            elif name.startswith("schedule_"):
                self._schedule(name)
            else:
                self.run.anomalies.append(f"seed {user.seed} day {self.day:.1f}: stopped in {name}")
                return
            from_prompt = None
        self.run.anomalies.append(f"seed {user.seed} day {self.day:.1f}: still asked {self.state.name}")

    def _checkin(self, name: str) -> None:
        if self.pending is None:  # a check-in the user did not start: the card was done earlier
            self.pending = self._train()
        report = self.pending[3]
        if report.text and name == "checkin_pain" and not (self.state.data.get("checkin") or {}):
            self.say(report.text)
            return
        field_ = name.removeprefix("checkin_")
        self.press(f"{name}:{getattr(report, field_)}")

    def _train(self) -> tuple[str, int, int, Report]:
        """The session on the card, as the body does it."""
        position = self.state.data["position"]
        exercise, level, bells = position["exercise"], position.get("level", 0), position.get("load", 0)
        report = self.user.session(self.content.exercises[exercise], level, self.day, self.content, bells)
        return exercise, level, bells, report

    def _parts(self) -> None:
        """The warm-up and accessory: a part that loads the user's sore place hurt; else mostly fine."""
        asked = self.state.data.get("parts_asked") or {}
        place = self.user.sore_place
        exercises = self.content.exercises
        hurt = [
            part for part, ex in asked.items() if place and loads_place(exercises[ex], place, self.content)
        ]
        roll = self.user.rng.random()
        answer = hurt[0] if hurt else ("fine" if roll < 0.8 else "skipped")
        self.run.parts[answer] = self.run.parts.get(answer, 0) + 1
        self.press(f"checkin_parts:{answer}")

    def _tell_flare(self) -> None:
        """A flaring user tells the coach when the flare starts, and some again a day or two later."""
        flare = self.user.flare
        if flare is None or self.user.is_quiet(self.day) or self.state.name != "idle":
            return
        start, length, _ = flare
        first = self.flare_told < start <= self.day < start + length
        again = self.run.flares == 1 and self.flare_told + 1.5 <= self.day < start + length
        if first or (again and self.user.rng.random() < 0.3):
            self.flare_told = self.day
            self.run.flares += 1
            self.say("my back has flared up" if self.user.typed() else "/flare")
            self.respond()

    def _schedule(self, name: str) -> None:
        user, rng = self.user, self.user.rng
        if name == "schedule_days":
            self.either(f"schedule_days:{user.days}", TYPED_DAYS[DAY_PRESETS.index(user.days)])
        elif name == "schedule_time":
            self.either(*user.time)
        elif name == "schedule_zone":
            self.say(user.zone) if user.zone != "utc" else self.press("schedule_zone:utc")
        elif name == "schedule_summary_day":
            self.press(f"schedule_summary_day:{rng.randint(0, 6)}")
        else:
            self.either("schedule_confirm:yes", "yes")

    def live(self) -> Run:
        """Onboarding, then every due prompt in time order for twelve weeks."""
        self.onboard()
        end = START + timedelta(weeks=WEEKS)
        while self.prompts:
            kind, due = min(self.prompts.items(), key=lambda item: item[1])
            if due >= end:
                break
            self.prompts.pop(kind)
            self.now = max(self.now, due)
            self.send(Due(kind, 1, due))
            self.now += timedelta(minutes=self.user.rng.choice(DELAYS))
            self.respond(from_prompt=kind)
            self._tell_flare()
        else:
            self.run.anomalies.append(f"seed {self.user.seed} day {self.day:.1f}: no prompt left")
        return self.run


def simulate(seed: int, content: Content) -> Run:
    return Driver(make_user(seed, content), content).live()


_shared: list[Content] = []  # the content a forked worker inherits


def _simulate_shared(seed: int) -> Run:
    return simulate(seed, _shared[0])


def simulate_many(size: int, content: Content, processes: int | None = None) -> list[Run]:
    """Users 0..size-1, in seed order; on several processes when there are cores for them (each user
    is seeded on its own, so the result is the same however the work is shared)."""
    processes = processes or min(4, os.cpu_count() or 1)
    if processes == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [simulate(seed, content) for seed in range(size)]
    _shared[:] = [content]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(_simulate_shared, range(size), chunksize=10)


# ---- figures ----


@dataclass
class Figures:
    users: int
    sessions: int
    counted_sessions: int
    decisions: dict[str, int]
    progress_after_too_much: int
    dead_ends: int
    excluded_placements: int
    early_rung_exits: int
    days_per_rung: dict[str, dict[str, float]]
    lowered_after_exceeded: dict[str, float]
    loaded_hinge_by_week_8: dict[str, float]
    misread_checkins: int
    anomalies: int
    sore_places: dict[str, float]
    kettlebell: dict[str, float]
    flare_ups: dict[str, float]
    plan_parts: dict[str, int]
    examples: dict[str, list[str]]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "p10": _percentile(values, 0.1),
        "p90": _percentile(values, 0.9),
        "min": round(min(values), 1),
    }


def progressions_after_too_much(run: Run, content: Content) -> list[str]:
    """Progress decisions whose session had pain above the acceptable zone or a worse morning."""
    found = []
    for decision in run.decisions:
        if decision.kind != "progress" or decision.session < 0:
            continue
        session = run.sessions[decision.session]
        if session.report.pain > content.progression.pain_acceptable_max or session.morning == "worse":
            found.append(
                f"seed {run.user.seed} {decision.at:%Y-%m-%d}: {decision.reason} to {decision.exercise} "
                f"after pain {session.report.pain}, morning {session.morning}"
            )
    return found


def excluded_placements(run: Run, content: Content) -> list[str]:
    """Placements on a rung the user's screening answers or equipment rule out."""
    return [
        f"seed {run.user.seed} {p.at:%Y-%m-%d}: {p.exercise} ({why}) by {p.reason}"
        for p in run.placements
        if (why := exclusion(content.exercises[p.exercise], run.user.answers)) is not None
    ]


def rung_spans(run: Run) -> list[tuple[Placement, datetime, str]]:
    """(placement, when the user left it, the kind of move that left it) for every rung left."""
    return [
        (here, after.at, after.kind) for here, after in zip(run.placements, run.placements[1:], strict=False)
    ]


def early_exits(run: Run, content: Content) -> list[str]:
    """Rungs left by progress before the minimum time or counted sessions on them."""
    rules = content.progression
    found = []
    for here, left, kind in rung_spans(run):
        if kind != "progress" or here.exercise == "":
            continue
        counted = [
            s for s in run.sessions if here.at <= s.at <= left and s.counted and s.exercise == here.exercise
        ]
        loaded = content.exercises[here.exercise].demands.spinal_load in ("moderate", "high")
        days = rules.min_days_on_loaded_rung if loaded else rules.min_days_on_rung
        spent = (left - counted[0].at) / timedelta(days=1) if counted else 0.0
        if spent < days or len(counted) < rules.min_sessions_on_rung:
            found.append(
                f"seed {run.user.seed} {left:%Y-%m-%d}: left {here.exercise} after {spent:.1f} days "
                f"and {len(counted)} counted sessions (minimum {days} days)"
            )
    return found


def at_floor(exercise: str, level: int, answers: dict, content: Content) -> bool:
    return level <= bounds(content)[0] and neighbour(exercise, "easier", answers, content)[0] is None


def lowered(run: Run, content: Content) -> str:
    """'lowered', 'not lowered', 'floor', 'undetermined' or 'never': what happened once capacity was
    first exceeded, within LOWERED_WITHIN counted sessions after that one."""
    first = next((i for i, s in enumerate(run.sessions) if s.report.exceeded), None)
    if first is None:
        return "never"
    session = run.sessions[first]
    if at_floor(session.exercise, session.level, run.user.answers, content):
        return "floor"
    later = [i for i in range(first + 1, len(run.sessions)) if run.sessions[i].counted]
    last = later[LOWERED_WITHIN - 1] if len(later) >= LOWERED_WITHIN else None
    window = [d for d in run.decisions if d.session >= first and (last is None or d.session <= last)]
    if any(d.kind == "simplify" for d in window):
        return "lowered"
    return "undetermined" if last is None else "not lowered"


def capable(user: User, content: Content) -> bool:
    """Growing capacity, and a loaded hinge the screening allows that their body could do by week 8."""
    if user.trajectory != "improving":
        return False
    rungs = content.ladders["hinge"].rungs
    loaded = rungs[rungs.index(LOADED_HINGE_FROM) :]
    day = LOADED_BY_WEEK * 7
    return any(
        exclusion(content.exercises[r], user.answers) is None
        and user.capacity(r, day) >= content.exercises[r].difficulty + EDGE
        for r in loaded
    )


def reached_loaded_hinge(run: Run, content: Content) -> bool:
    rungs = content.ladders["hinge"].rungs
    loaded = set(rungs[rungs.index(LOADED_HINGE_FROM) :])
    by = START + timedelta(weeks=LOADED_BY_WEEK)
    return any(p.exercise in loaded and p.at < by for p in run.placements)


def figures(runs: list[Run], content: Content) -> Figures:
    examples: dict[str, list[str]] = {}

    def keep(name: str, found: list[str]) -> int:
        if found:
            examples.setdefault(name, []).extend(found[: 5 - len(examples.get(name, []))])
        return len(found)

    decisions: dict[str, int] = {}
    too_much = dead = excluded = early = misread = anomalies = 0
    days: dict[str, list[float]] = {}
    outcomes: dict[str, int] = {}
    hinge = {"capable": 0, "reached": 0, "capable_adherent": 0, "reached_adherent": 0}
    for run in runs:
        for d in run.decisions:
            decisions[f"{d.kind}:{d.reason}"] = decisions.get(f"{d.kind}:{d.reason}", 0) + 1
        too_much += keep("progress_after_too_much", progressions_after_too_much(run, content))
        dead += keep("dead_ends", run.dead_ends)
        excluded += keep("excluded_placements", excluded_placements(run, content))
        early += keep("early_rung_exits", early_exits(run, content))
        anomalies += keep("anomalies", run.anomalies)
        keep("flare_steps_up", run.flare_steps_up)
        misread += keep(
            "misread_checkins",
            [
                f"seed {run.user.seed} {s.at:%Y-%m-%d}: {s.report.text!r} read {s.read}"
                for s in run.sessions
                if s.misread
            ],
        )
        for here, left, kind in rung_spans(run):
            if kind == "progress":
                days.setdefault(here.exercise, []).append((left - here.at) / timedelta(days=1))
        result = lowered(run, content)
        outcomes[result] = outcomes.get(result, 0) + 1
        if result == "not lowered":
            keep("not_lowered", [_not_lowered(run)])
        if capable(run.user, content):
            adherent = run.user.quiet is None and run.user.skip_rate < 0.2
            reached = reached_loaded_hinge(run, content)
            hinge["capable"] += 1
            hinge["reached"] += reached
            hinge["capable_adherent"] += adherent
            hinge["reached_adherent"] += adherent and reached
    judged = outcomes.get("lowered", 0) + outcomes.get("not lowered", 0)
    all_days = [d for values in days.values() for d in values]
    return Figures(
        users=len(runs),
        sessions=sum(len(r.sessions) for r in runs),
        counted_sessions=sum(s.counted for r in runs for s in r.sessions),
        decisions=dict(sorted(decisions.items())),
        progress_after_too_much=too_much,
        dead_ends=dead,
        excluded_placements=excluded,
        early_rung_exits=early,
        days_per_rung={"all": _spread(all_days), **{k: _spread(v) for k, v in sorted(days.items())}},
        lowered_after_exceeded={
            **{k: float(v) for k, v in sorted(outcomes.items())},
            "share": round(outcomes.get("lowered", 0) / judged, 3) if judged else 1.0,
        },
        loaded_hinge_by_week_8={
            **{k: float(v) for k, v in hinge.items()},
            "share": round(hinge["reached"] / hinge["capable"], 3) if hinge["capable"] else 0.0,
            "share_adherent": round(hinge["reached_adherent"] / hinge["capable_adherent"], 3)
            if hinge["capable_adherent"]
            else 0.0,
        },
        misread_checkins=misread,
        anomalies=anomalies,
        sore_places=sore_places(runs),
        kettlebell=kettlebell(runs, content),
        flare_ups=flare_ups(runs),
        plan_parts={
            k: sum(r.parts.get(k, 0) for r in runs) for k in ("fine", "skipped", "warm_up", "accessory")
        },
        examples=examples,
    )


def sore_places(runs: list[Run]) -> dict[str, float]:
    """Sessions that hurt in a place the exercise loads, and the share answered by sparing that place."""
    hurt = spared = 0
    for run in runs:
        for index, session in enumerate(run.sessions):
            if session.report.place is None:
                continue
            hurt += 1
            reasons = [d.reason for d in run.decisions if d.session == index]
            spared += any(r.startswith("spare_place") for r in reasons)
    return {
        "sessions": float(hurt),
        "spared": float(spared),
        "share": round(spared / hurt, 3) if hurt else 1.0,
    }


def kettlebell(runs: list[Run], content: Content) -> dict[str, float]:
    """Users who trained on a rung with their own kettlebell, and how the bell went up and down."""
    users = raised = 0
    lighter = heaviest = 0
    for run in runs:
        on_bell = any(
            uses_bell(content.exercises[s.exercise], run.user.answers, content) for s in run.sessions
        )
        users += on_bell
        raised += any(d.reason == "progress_load" for d in run.decisions)
        lighter += sum(d.kind == "simplify" and d.reason.endswith("_load") for d in run.decisions)
        heaviest = max([heaviest, *(s.bells for s in run.sessions)])
    return {"users": float(users), "raised_a_bell": float(raised), "lighter_bell_first": float(lighter),
            "most_bells_up": float(heaviest)}  # fmt: skip


def flare_ups(runs: list[Run]) -> dict[str, float]:
    told = sum(r.flares for r in runs)
    count = {reason: sum(d.reason == reason for r in runs for d in r.decisions)
             for reason in ("flare_hold", "flare_step", "flare_done")}  # fmt: skip
    steps_up = sum(len(r.flare_steps_up) for r in runs)
    return {
        "told": float(told),
        **{k: float(v) for k, v in count.items()},
        "progress_in_lighter_days": steps_up,
    }


def _not_lowered(run: Run) -> str:
    first = next(i for i, s in enumerate(run.sessions) if s.report.exceeded)
    s = run.sessions[first]
    told = [f"{d.kind}:{d.reason}" for d in run.decisions if first <= d.session <= first + 3]
    return (
        f"seed {run.user.seed} {s.at:%Y-%m-%d}: {s.exercise} level {s.level}, pain {s.report.pain} "
        f"{s.report.control}, morning {s.morning}; then {told}"
    )


def main(argv: list[str]) -> None:
    from hipcoach.bot.bootstrap import load_content

    content = load_content()
    size = int(argv[0]) if argv else 1000
    runs = simulate_many(size, content)
    print(json.dumps(asdict(figures(runs, content)), indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
