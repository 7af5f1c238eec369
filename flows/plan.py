"""A session is a small plan: a warm-up from the mobility ladder, the main exercise, and one
accessory from the core or hip-stability ladder chosen by how far along the hinge ladder the user is
(content/data/progression.yaml `session_plan`). Every part fits the user's screening and equipment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows.progression import exclusion


def _fitting(
    ladder: str, answers: Mapping[str, Any], content: Content, ceiling: int | None = None
) -> str | None:
    """The hardest allowed rung of a ladder no harder than `ceiling` (without one, the first allowed)."""
    rungs = content.ladders[ladder].rungs
    allowed = [r for r in rungs if exclusion(content.exercises[r], answers) is None]
    if ceiling is None:
        return allowed[0] if allowed else None
    under = [r for r in allowed if content.exercises[r].difficulty <= ceiling]
    return under[-1] if under else None  # nothing gentle enough: no accessory rather than a hard one


def parts(position: Mapping[str, Any], answers: Mapping[str, Any], content: Content) -> dict[str, str]:
    """Today's warm-up and accessory by part ('warm_up', 'accessory'); none away from the main ladder."""
    rules = content.progression.session_plan
    if position.get("ladder") != rules.main_ladder:
        return {}
    main = content.exercises[position["exercise"]]
    place = content.ladders[rules.main_ladder].rungs.index(main.id)
    stage = next((s for s in rules.accessory if place < s.until_rung), rules.accessory[-1])
    warm_up = _fitting(rules.warm_up_ladder, answers, content)
    if warm_up is None:
        return {}
    found = {"warm_up": warm_up, "accessory": _fitting(stage.ladder, answers, content, main.difficulty)}
    return {part: exercise for part, exercise in found.items() if exercise is not None}


def todays_parts(data: Mapping[str, Any], content: Content) -> dict[str, str]:
    """The parts on today's card: a part resting after it hurt is left out (flows/training.py)."""
    resting = data.get("resting") or {}
    found = parts(data["position"], data.get("answers") or {}, content)
    return {part: exercise for part, exercise in found.items() if part not in resting}


def plan_text(data: Mapping[str, Any], content: Content) -> str:
    """One line for the card: warm-up, main exercise and accessory; '' away from the main ladder."""
    found = parts(data["position"], data.get("answers") or {}, content)
    if not found:
        return ""
    today = todays_parts(data, content)
    names = {part: content.exercises[exercise].name for part, exercise in today.items()}
    names["main"] = content.exercises[data["position"]["exercise"]].name
    key = {
        ("warm_up", "accessory"): "session_plan",
        ("warm_up",): "session_plan_short",
        ("accessory",): "session_plan_no_warm_up",
        (): "session_plan_main_only",
    }[tuple(today)]
    return content.text(key, **names)
