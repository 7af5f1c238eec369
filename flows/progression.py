"""Progress, hold or simplify: the pain-monitoring rules applied to one exercise's recent sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from hipcoach.content.schema import Content, Exercise, ProgressionRules
from hipcoach.flows.dose import bounds
from hipcoach.flows.load import can_add_bell, kilos
from hipcoach.flows.starting import can_kneel

Kind = Literal["progress", "hold", "simplify", "wait"]
Session = Mapping[str, Any]  # {"at", "exercise", "pain", "effort", "control", "morning"}


@dataclass(frozen=True)
class Decision:
    """What happens next, why (a message key with its parameters), and what was skipped on the way."""

    kind: Kind
    exercise: str
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()
    rest_day: bool = False
    level: int = 0  # the dose level on `exercise` from now on (flows/dose.py)
    load: int | None = None  # heavier kettlebells on `exercise` from now on (flows/load.py); None: as before


def exclusion(exercise: Exercise, answers: Mapping[str, Any]) -> str | None:
    """The message key explaining why screening rules this exercise out, or None if it is allowed."""
    if exercise.demands.kneeling and not can_kneel(answers):
        return "skip_kneeling"
    if exercise.demands.knee_bend_under_load and answers.get("knee_issues", True):
        return "skip_knees"
    owned = set(answers.get("equipment") or [])
    if exercise.equipment and not owned & set(exercise.equipment):
        return "skip_equipment"
    return None


def neighbour(
    exercise_id: str, direction: Literal["harder", "easier"], answers: Mapping[str, Any], content: Content
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The next allowed rung in one direction, and the rungs skipped on the way with their reasons."""
    skipped: list[tuple[str, str]] = []
    current = getattr(content.exercises[exercise_id], direction)
    while current is not None:
        why = exclusion(content.exercises[current], answers)
        if why is None:
            return current, tuple(skipped)
        skipped.append((current, why))
        current = getattr(content.exercises[current], direction)
    return None, tuple(skipped)


def counted(session: Session) -> bool:
    """At most one session a day counts, and only one that followed a session (older entries did)."""
    return bool(session.get("counted", True))


def since_last_change(
    history: Sequence[Session], exercise: str, level: int | None = 0, load: int | None = None
) -> list[Session]:
    """The unbroken run of latest counted sessions on this exercise at this dose level and kettlebell
    load (any, if None)."""
    run: list[Session] = []
    for session in reversed(history):
        if session["exercise"] != exercise or level not in (None, session.get("level", 0)):
            break
        if load not in (None, session.get("load", 0)):
            break
        if counted(session):
            run.append(session)
    return list(reversed(run))


def is_good(session: Session, rules: ProgressionRules) -> bool:
    return (
        session["pain"] <= rules.pain_safe_max
        and session["control"] == "smooth"
        and session["effort"] in rules.progress_efforts
        and session.get("morning") in rules.progress_mornings
    )


def pain_trend_rises(history: Sequence[Session], now: datetime, rules: ProgressionRules) -> bool:
    """This window's average pain is up on the window before by at least the configured rise."""
    window = timedelta(days=rules.trend_window_days)
    scored = [s for s in history if counted(s)]
    recent = [s["pain"] for s in scored if now - window < datetime.fromisoformat(s["at"]) <= now]
    before = [s["pain"] for s in scored if now - 2 * window < datetime.fromisoformat(s["at"]) <= now - window]
    if min(len(recent), len(before)) < rules.trend_min_sessions:
        return False
    average = sum(recent) / len(recent)
    # measured against the zones: a rise that stays in the safe zone is no warning
    return average > rules.pain_safe_max and average - sum(before) / len(before) >= rules.trend_rise


def _worse_mornings(history: Sequence[Session], count: int) -> bool:
    answered = [s["morning"] for s in history if s.get("morning")]
    return len(answered) >= count and all(m == "worse" for m in answered[-count:])


def decide(
    history: Sequence[Session],
    exercise: str,
    answers: Mapping[str, Any],
    now: datetime,
    content: Content,
    level: int = 0,
    load: int = 0,
) -> Decision:
    """Apply the rules to the latest session on `exercise` at dose `level` with `load` heavier
    kettlebells (the last entry of `history`)."""
    rules = content.progression
    latest = history[-1]
    pain = latest["pain"]
    place = latest.get("location")
    if pain > rules.pain_acceptable_max and loads_place(content.exercises[exercise], place, content):
        return _spare_place(exercise, str(place), answers, content, level, load, pain)
    if latest["control"] == "lost":  # quality broke down: the exercise itself is too advanced
        reason = "simplify_pain" if pain > rules.pain_acceptable_max else "simplify_control"
        if load > 0:  # with a heavier bell, the bell is what was too much
            return Decision(
                "simplify", exercise, f"{reason}_load", {"pain": pain}, level=level, load=load - 1
            )
        stepped = _simplify(exercise, reason, answers, content, pain=pain)
        if stepped.reason == "hold_bottom" and level > bounds(content)[0]:  # no easier rung: lighter
            return Decision(
                "simplify", exercise, f"{reason}_dose", {"pain": pain}, stepped.skipped, level=level - 1
            )
        return stepped
    if pain > rules.pain_acceptable_max:
        return _ease(exercise, level, load, "simplify_pain", answers, content, pain=pain)
    if latest.get("morning") == "worse" and _worse_mornings(history, rules.worse_mornings_to_simplify):
        return _ease(exercise, level, load, "simplify_mornings", answers, content)
    if pain > rules.pain_safe_max and pain_trend_rises(history, now, rules):  # not after a comfortable one
        return _ease(exercise, level, load, "simplify_trend", answers, content, rest_day=True)
    if pain > rules.pain_safe_max:
        return Decision("hold", exercise, "hold_pain", {"pain": pain})
    if latest.get("morning") == "worse":
        return Decision("hold", exercise, "hold_morning")
    if not counted(latest):
        return Decision("hold", exercise, "hold_uncounted")
    if latest.get("morning") is None:
        return Decision("wait", exercise, "wait_morning")
    if latest.get("morning") not in rules.progress_mornings:  # never said: no step up on a guess
        return Decision("hold", exercise, "hold_no_morning")
    return _progress_or_hold(history, exercise, answers, content, now, level, load)


def _time_left(
    run: Sequence[Session], exercise: str, content: Content, now: datetime
) -> dict[str, int] | None:
    """The minimum time on this rung, if it is not yet up: {"days", "count"}; else None."""
    rules = content.progression
    loaded = content.exercises[exercise].demands.spinal_load in ("moderate", "high")
    days = rules.min_days_on_loaded_rung if loaded else rules.min_days_on_rung
    count = max(rules.min_sessions_on_rung, rules.good_sessions_to_progress)
    spent = now - datetime.fromisoformat(run[0]["at"]) if run else timedelta(0)
    if len(run) >= count and spent >= timedelta(days=days):
        return None
    return {"days": days, "count": count}


def _ease(
    exercise: str,
    level: int,
    load: int,
    reason: str,
    answers: Mapping[str, Any],
    content: Content,
    rest_day: bool = False,
    **params: Any,
) -> Decision:
    """Too much: a heavier kettlebell goes first, then the dose comes down a level; below the lowest,
    the rung does."""
    if load > 0:
        return Decision("simplify", exercise, f"{reason}_load", params, (), rest_day, level, load - 1)
    if level > bounds(content)[0]:
        return Decision("simplify", exercise, f"{reason}_dose", params, (), rest_day, level - 1)
    return _simplify(exercise, reason, answers, content, rest_day, **params)


def loads_place(exercise: Exercise, place: str | None, content: Content) -> bool:
    """The exercise has a demand that loads this place (progression.yaml `spare_places`)."""
    spared = content.progression.spare_places.get(place or "")
    return spared is not None and any(getattr(exercise.demands, d) for d in spared.demands)


def _spare_place(
    exercise: str, place: str, answers: Mapping[str, Any], content: Content, level: int, load: int, pain: int
) -> Decision:
    """Pain in a place the exercise loads: the nearest rung that spares it (easier first, else a
    neighbour at most `spare_harder_max` harder); with none, a lighter bell or dose on this one. The
    pain still counts: never a step up in dose after it."""
    told = {"pain": pain, "place": place, "spares": content.message(f"spares_{place}")}
    target, skipped = _sparing(exercise, place, "easier", answers, content)
    if target is None:
        target, skipped = _sparing(exercise, place, "harder", answers, content)
        ceiling = content.exercises[exercise].difficulty + content.progression.spare_harder_max
        if target is not None and content.exercises[target].difficulty > ceiling:
            target, skipped = None, ()
    if target is not None:
        return Decision("simplify", target, "spare_place", told, skipped)
    if load > 0:
        return Decision("simplify", exercise, "spare_place_load", told, level=level, load=load - 1)
    if level > bounds(content)[0]:
        return Decision("simplify", exercise, "spare_place_dose", told, level=level - 1)
    return Decision("hold", exercise, "spare_place_bottom", told, level=level)


def _sparing(
    exercise: str,
    place: str,
    direction: Literal["harder", "easier"],
    answers: Mapping[str, Any],
    content: Content,
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The nearest allowed rung in one direction that does not load the place, and the rungs the
    screening ruled out on the way."""
    skipped: list[tuple[str, str]] = []
    current = getattr(content.exercises[exercise], direction)
    while current is not None:
        rung = content.exercises[current]
        why = exclusion(rung, answers)
        if why is None and not loads_place(rung, place, content):
            return current, tuple(skipped)
        if why is not None:
            skipped.append((current, why))
        current = getattr(rung, direction)
    return None, ()


def _progress_or_hold(
    history: Sequence[Session],
    exercise: str,
    answers: Mapping[str, Any],
    content: Content,
    now: datetime,
    level: int,
    load: int = 0,
) -> Decision:
    rules = content.progression
    run = since_last_change(history, exercise, level, load)
    latest = history[-1]
    needed = rules.good_sessions_to_progress
    recent = run[-needed:]
    if len(recent) == needed and all(is_good(s, rules) for s in recent):
        worst = max(s["pain"] for s in recent)
        told = {"count": needed, "pain": worst}
        if level < bounds(content)[1]:  # dose before rung
            return Decision("progress", exercise, "progress_dose", told, level=level + 1)
        if can_add_bell(content.exercises[exercise], load, answers, content):  # then load
            bell = {**told, **kilos(content)}
            return Decision("progress", exercise, "progress_load", bell, level=0, load=load + 1)
        waiting = _time_left(since_last_change(history, exercise, None), exercise, content, now)
        if waiting is not None:
            return Decision("hold", exercise, "hold_min_time", waiting)
        target, skipped = neighbour(exercise, "harder", answers, content)
        if target is None:
            return Decision("hold", exercise, "hold_top", {"count": needed}, skipped, level=level)
        return Decision("progress", target, "progress_good", told, skipped)
    if latest["control"] != "smooth":
        return Decision("hold", exercise, "hold_control")
    if latest["effort"] == "hard" and load > 0:
        return Decision("simplify", exercise, "ease_effort_load", level=level, load=load - 1)
    if latest["effort"] == "hard" and level > bounds(content)[0]:
        return Decision("simplify", exercise, "ease_effort", level=level - 1)
    if latest["effort"] not in rules.progress_efforts:
        return Decision("hold", exercise, "hold_effort")
    return Decision("hold", exercise, "hold_one_more", {"count": needed})


def _simplify(
    exercise: str,
    reason: str,
    answers: Mapping[str, Any],
    content: Content,
    rest_day: bool = False,
    **params: Any,
) -> Decision:
    target, skipped = neighbour(exercise, "easier", answers, content)
    if target is None:
        return Decision("hold", exercise, "hold_bottom", params, skipped, rest_day)
    return Decision("simplify", target, reason, params, skipped, rest_day)


def is_sticking(decisions: Sequence[Mapping[str, Any]], now: datetime, rules: ProgressionRules) -> bool:
    """Simplified too often lately, or held session after session for a while: time for another angle
    and a human. Maintaining at the top, or waiting out the time on a rung, is no sticking point."""
    window = timedelta(days=rules.sticking_window_days)
    recent = [d for d in decisions if now - datetime.fromisoformat(d["at"]) <= window]
    simplified = sum(1 for d in recent if d["kind"] == "simplify")
    holds: list[Mapping[str, Any]] = []
    for entry in reversed(decisions):
        if entry.get("reason") in rules.sticking_ignores:
            continue
        if entry["kind"] != "hold":
            break
        holds.append(entry)
    long_enough = bool(holds) and now - datetime.fromisoformat(holds[-1]["at"]) >= timedelta(
        days=rules.sticking_min_days
    )
    return simplified >= rules.sticking_simplifications or (
        len(holds) >= rules.sticking_holds and long_enough
    )


def alternative(
    ladder: str, answers: Mapping[str, Any], content: Content, exercise: str | None = None
) -> tuple[str, str] | None:
    """An allowed rung on another ladder, as (ladder, exercise): of comparable difficulty to the
    current exercise (the hardest not above it), else the first allowed one."""
    level = content.exercises[exercise].difficulty if exercise else None
    for other in content.progression.alternatives.get(ladder, []):
        allowed = [
            r for r in content.ladders[other].rungs if exclusion(content.exercises[r], answers) is None
        ]
        if not allowed:
            continue
        if level is None:
            return other, allowed[0]
        fitting = [r for r in allowed if content.exercises[r].difficulty <= level]
        if fitting:
            return other, fitting[-1]
    return None  # nothing as gentle elsewhere: no switch, the human coach is the better offer
