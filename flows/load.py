"""Load for kettlebell rungs: the last step of the dose is the next bell up (progression.yaml `kettlebell`).

`load` counts the heavier bells taken on one exercise, from 0 (the bell the user chose to start it
with) to `max_steps`; it starts at 0 on every new rung. We never know a bell's weight, so the card
gives plain guidance on choosing one and says how many bells up the user is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hipcoach.content.schema import Content, Exercise


def uses_bell(exercise: Exercise, answers: Mapping[str, Any], content: Content) -> bool:
    """Done with a kettlebell: the exercise takes one and the user has one."""
    bell = content.progression.kettlebell.equipment
    return bell in exercise.equipment and bell in (answers.get("equipment") or [])


def can_add_bell(exercise: Exercise, load: int, answers: Mapping[str, Any], content: Content) -> bool:
    return uses_bell(exercise, answers, content) and load < content.progression.kettlebell.max_steps


def guidance(exercise: Exercise, load: int, answers: Mapping[str, Any], content: Content) -> str:
    """The card's line on the bell: how to choose the first one, or how many bells up the user is."""
    if not uses_bell(exercise, answers, content):
        return ""
    return content.text(
        "kettlebell_start" if load == 0 else "kettlebell_raised", **kilos(content), steps=load
    )


def kilos(content: Content) -> dict[str, str]:
    """The guidance numbers from content, said as ranges: '8-12'."""
    bell = content.progression.kettlebell
    return {
        "women": "{}-{}".format(*bell.start_kg_women),
        "men": "{}-{}".format(*bell.start_kg_men),
        "step": "{}-{}".format(*bell.step_kg),
    }
