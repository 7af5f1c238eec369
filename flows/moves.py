"""Seeing the movement: /exercises lists the user's ladder, and a button shows one exercise's animation."""

from __future__ import annotations

from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows.values import Button, Reply

SHOW = "show"  # a button's value is 'show:<exercise id>'


def replies(args: str, training: bool, data: dict[str, Any], content: Content) -> list[Reply]:
    """The animation of the exercise named in `args`, else the list of the user's ladder."""
    if not training:
        return [Reply("finish_screening_first")]
    exercise = content.exercises.get(args.strip())
    if exercise is not None:
        params = {"name": exercise.name, "tempo": exercise.dose.tempo}
        return [Reply("exercise_animation", params, (), f"animation:{exercise.id}")]
    return [_ladder(data, content)]


def _ladder(data: dict[str, Any], content: Content) -> Reply:
    position = data.get("position") or {}
    ladder = content.ladders.get(position.get("ladder", ""))
    if ladder is None:
        return Reply("finish_screening_first")
    current = position.get("exercise")
    rows = tuple(
        (
            Button(
                "button_show_current" if rung == current else "button_show_exercise",
                f"{SHOW}:{rung}",
                {"name": content.exercises[rung].name},
            ),
        )
        for rung in ladder.rungs
    )
    return Reply("exercises_list", {"ladder": ladder.name}, rows)


def card_button(exercise_id: str) -> tuple[Button, ...]:
    """The row under an exercise card that shows its movement."""
    return (Button("button_see_movement", f"{SHOW}:{exercise_id}"),)
