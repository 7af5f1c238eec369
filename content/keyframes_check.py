"""Checks of keyframes.yaml against the exercises and the figure: each problem as (field, reason)."""

from __future__ import annotations

from collections.abc import Mapping

from hipcoach.content.figure import POINTS, Frame, flat, joints, lowest
from hipcoach.content.keyframes_schema import BODY_ANGLES, LIMB_ANGLES, ExerciseKeyframes, Keyframes, Pose
from hipcoach.content.schema import Exercise

Found = list[tuple[str, str]]


def keyframe_problems(keyframes: Keyframes, exercises: Mapping[str, Exercise]) -> Found:
    """Every exercise animated, every entry an exercise, every pose possible and standing on the floor."""
    found: Found = []
    missing = [name for name in (*BODY_ANGLES, *LIMB_ANGLES) if name not in keyframes.figure.ranges]
    found += [("figure.ranges", f"no range for '{name}'") for name in missing]
    for exercise_id in exercises:
        if exercise_id not in keyframes.exercises:
            found.append((f"exercises.{exercise_id}", "no keyframes for this exercise"))
    for exercise_id, entry in keyframes.exercises.items():
        where = f"exercises.{exercise_id}"
        exercise = exercises.get(exercise_id)
        if exercise is None:
            found.append((where, f"unknown exercise id '{exercise_id}'"))
            continue
        if entry.cue >= len(exercise.cues):
            found.append((f"{where}.cue", f"the exercise has {len(exercise.cues)} cues, counted from 0"))
        found += _entry_problems(where, entry, keyframes)
    return found


def _entry_problems(where: str, entry: ExerciseKeyframes, keyframes: Keyframes) -> Found:
    if entry.anchor not in POINTS:
        return [(f"{where}.anchor", f"unknown joint '{entry.anchor}'; one of {', '.join(POINTS)}")]
    found: Found = []
    for index, prop in enumerate(entry.props):
        needs = {"band": ("at",), "box": ("at", "size")}.get(prop.kind, ())
        found += [
            (f"{where}.props.{index}.{f}", f"a {prop.kind} needs '{f}'")
            for f in needs
            if not getattr(prop, f)
        ]
    figure = keyframes.figure
    for index, pose in enumerate(entry.poses):
        at = f"{where}.poses.{index}"
        out_of_range = _range_problems(at, pose, figure.ranges)
        found += out_of_range
        if out_of_range:
            continue
        if entry.hinge and abs(pose.spine) > figure.neutral_spine:
            band = figure.neutral_spine
            found.append(
                (f"{at}.spine", f"a hinge keeps the spine neutral (within ±{band:g}°), not {pose.spine:g}°")
            )
        angles = flat(pose)
        part, height = lowest(Frame(angles, joints(angles, entry, figure)), entry, figure)
        if height < -figure.floor_tolerance:
            found.append((at, f"the {part.replace('_', ' ')} is {-height * 100:.0f} cm below the floor"))
    return found


def _range_problems(at: str, pose: Pose, ranges: Mapping[str, tuple[float, float]]) -> Found:
    values = [(name, getattr(pose, name), at) for name in (*BODY_ANGLES, *LIMB_ANGLES)]
    values += [(name, getattr(pose.left, name), f"{at}.left") for name in LIMB_ANGLES]
    values += [(name, getattr(pose.right, name), f"{at}.right") for name in LIMB_ANGLES]
    found: Found = []
    for name, value, where in values:
        if value is None or name not in ranges:
            continue
        low, high = ranges[name]
        if not low <= value <= high:
            found.append(
                (f"{where}.{name}", f"{value:g}° is outside the possible range {low:g}° to {high:g}°")
            )
    return found
