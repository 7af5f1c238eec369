"""A session is a small plan: a warm-up from the mobility ladder, the main exercise, and one
accessory from the core or hip-stability ladder chosen by how far along the hinge ladder the user is
(content/data/progression.yaml `session_plan`). Every part fits the user's screening and equipment."""

from __future__ import annotations

from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows.progression import exclusion


def _fitting(
    ladder: str, answers: dict[str, Any], content: Content, ceiling: int | None = None
) -> str | None:
    """The hardest allowed rung of a ladder no harder than `ceiling` (without one, the first allowed)."""
    rungs = content.ladders[ladder].rungs
    allowed = [r for r in rungs if exclusion(content.exercises[r], answers) is None]
    if ceiling is None:
        return allowed[0] if allowed else None
    under = [r for r in allowed if content.exercises[r].difficulty <= ceiling]
    return under[-1] if under else None  # nothing gentle enough: no accessory rather than a hard one


def plan_text(position: dict[str, Any], answers: dict[str, Any], content: Content) -> str:
    """One line for the card: warm-up, main exercise and accessory; '' away from the main ladder."""
    rules = content.progression.session_plan
    if position.get("ladder") != rules.main_ladder:
        return ""
    main = content.exercises[position["exercise"]]
    place = content.ladders[rules.main_ladder].rungs.index(main.id)
    stage = next((s for s in rules.accessory if place < s.until_rung), rules.accessory[-1])
    warm_up = _fitting(rules.warm_up_ladder, answers, content)
    accessory = _fitting(stage.ladder, answers, content, main.difficulty)
    if warm_up is None:
        return ""
    names = {"warm_up": content.exercises[warm_up].name, "main": main.name}
    if accessory is None:
        return content.text("session_plan_short", **names)
    return content.text("session_plan", accessory=content.exercises[accessory].name, **names)
