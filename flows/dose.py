"""Dose before rung: an exercise's dose at a level above or below its base (content/data/progression.yaml).

Level 0 is the dose the exercise is written with. Each level up adds what `dose_levels.up` says
(more reps or seconds, then a set); each level down takes away what `dose_levels.down` says. A rung
changes only at the ends: past the top level the next rung starts at its base, below the bottom
level the easier rung does.
"""

from __future__ import annotations

from hipcoach.content.schema import Content, Dose, Exercise


def bounds(content: Content) -> tuple[int, int]:
    """The lowest and highest level, the same for every exercise."""
    levels = content.progression.dose_levels
    return -len(levels.down), len(levels.up)


def dose_at(exercise: Exercise, level: int, content: Content) -> Dose:
    """The exercise's dose at `level`: the base with that level's changes, never below the floors."""
    levels = content.progression.dose_levels
    if level == 0:
        return exercise.dose
    step = levels.up[level - 1] if level > 0 else levels.down[-level - 1]
    base = exercise.dose
    return base.model_copy(
        update={
            "sets": max(1, base.sets + step.sets),
            "reps": None if base.reps is None else max(levels.min_reps, base.reps + step.reps),
            "seconds": None if base.seconds is None else max(levels.min_seconds, base.seconds + step.seconds),
        }
    )
