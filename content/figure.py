"""The stick figure's geometry: where each joint is in a pose, frames between key poses, and timing.

Pure arithmetic on content, shared by the content checks, the tests and the renderer (bot/animation.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from hipcoach.content.keyframes_schema import (
    BODY_ANGLES,
    LIMB_ANGLES,
    ExerciseKeyframes,
    Figure,
    Keyframes,
    Pose,
)

Point = tuple[float, float, float]
Angles = dict[str, float]
SIDES = (("left", 1.0), ("right", -1.0))
TEMPO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
LIMB_POINTS = ("hip", "knee", "ankle", "toe", "shoulder", "elbow", "hand")
POINTS = (
    "pelvis",
    "mid_back",
    "neck",
    "head",
    *(f"{side}_{name}" for side, _ in SIDES for name in LIMB_POINTS),
)


def flat(pose: Pose) -> Angles:
    """Every angle of a pose by name: 'trunk', ..., 'left.hip', 'right.knee', ..."""
    angles = {name: float(getattr(pose, name)) for name in BODY_ANGLES}
    for side, _ in SIDES:
        angles.update({f"{side}.{name}": pose.angle(side, name) for name in LIMB_ANGLES})  # type: ignore[arg-type]
    return angles


def phases(tempo: str, keyframes: Keyframes) -> tuple[float, float, float]:
    """Seconds down, hold and up: from 'down-hold-up' numbers, the tempo words' entry, or the default."""
    numbers = TEMPO.match(tempo)
    if numbers:
        down, hold, up = (float(n) for n in numbers.groups())
        return down, hold, up
    return keyframes.tempos.get(tempo.strip().lower(), keyframes.default_tempo)


@dataclass(frozen=True)
class Frame:
    """One drawn moment: its angles and where each joint is."""

    angles: Angles
    points: dict[str, Point]


def frames(entry: ExerciseKeyframes, tempo: tuple[float, float, float], figure: Figure) -> list[Frame]:
    """One repetition at `figure.frames_per_second`: rest, down through the key poses, hold, back up."""
    fps = figure.frames_per_second
    down, hold, up = tempo
    keys = [flat(pose) for pose in entry.poses]
    timeline = [keys[0]] * round(figure.rest_seconds * fps)
    timeline += list(_through(keys, round(down * fps)))
    timeline += [keys[-1]] * round(hold * fps)
    timeline += list(_through(keys[::-1], round(up * fps)))
    timeline = timeline or [keys[0]]
    return [Frame(angles, joints(angles, entry, figure)) for angles in timeline]


def _through(keys: list[Angles], count: int) -> Iterator[Angles]:
    """`count` frames from the first key pose to the last, eased in and out, the last one included."""
    if len(keys) == 1:
        yield from [keys[0]] * count
        return
    for step in range(1, count + 1):
        at = _ease(step / count) * (len(keys) - 1)
        index = min(int(at), len(keys) - 2)
        share = at - index
        before, after = keys[index], keys[index + 1]
        yield {name: before[name] + (after[name] - before[name]) * share for name in before}


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def joints(angles: Angles, entry: ExerciseKeyframes, figure: Figure) -> dict[str, Point]:
    """Forward kinematics from the pelvis, then turned, rolled and moved so the anchor sits at the origin."""
    seg = figure.segments
    trunk, upper = angles["trunk"], angles["trunk"] + angles["spine"]
    points: dict[str, Point] = {"pelvis": (0.0, 0.0, 0.0)}
    points["mid_back"] = _add(points["pelvis"], _scale(_up(trunk), seg.lumbar))
    points["neck"] = _add(points["mid_back"], _scale(_up(upper), seg.thoracic))
    points["head"] = _add(points["neck"], _scale(_up(upper + angles["neck"]), seg.neck + seg.head))
    for side, s in SIDES:
        a = {name: angles[f"{side}.{name}"] for name in LIMB_ANGLES}
        hip = (0.0, 0.0, s * seg.pelvis_width / 2)
        thigh = _limb(a["hip"] - trunk, a["abduction"], s)
        thigh = (thigh[0], _rotate(thigh[1], thigh[0], math.radians(s * a["rotation"])))
        shin = _bend(thigh, -a["knee"])
        knee = _add(hip, _scale(thigh[0], seg.thigh))
        ankle = _add(knee, _scale(shin[0], seg.shin))
        toe = _add(ankle, _scale(_bend(shin, 90 + a["ankle"])[0], seg.foot))
        shoulder = _add(points["neck"], (0.0, 0.0, s * seg.shoulder_width / 2))
        arm = _limb(a["shoulder"] - upper, a["arm_abduction"], s)
        elbow = _add(shoulder, _scale(arm[0], seg.upper_arm))
        hand = _add(elbow, _scale(_bend(arm, a["elbow"])[0], seg.forearm))
        parts = {"hip": hip, "knee": knee, "ankle": ankle, "toe": toe}
        parts |= {"shoulder": shoulder, "elbow": elbow, "hand": hand}
        points.update({f"{side}_{name}": point for name, point in parts.items()})
    points = _turned(points, angles["turn"], entry.anchor)
    return _anchored(_rolled(points, angles["roll"], entry.anchor), entry.anchor, entry.anchor_height)


def _turned(points: dict[str, Point], degrees: float, anchor: str) -> dict[str, Point]:
    """Everything but the anchored leg turned to the left about the vertical through its hip."""
    if not degrees:
        return points
    side = anchor.split("_")[0]
    centre = points.get(f"{side}_hip", points["pelvis"])
    kept = {f"{side}_{name}" for name in ("knee", "ankle", "toe")} if side in ("left", "right") else set()
    b = math.radians(degrees)
    turned = {}
    for name, (x, y, z) in points.items():
        if name in kept:
            turned[name] = (x, y, z)
            continue
        dx, dz = x - centre[0], z - centre[2]
        turned[name] = (
            centre[0] + dx * math.cos(b) - dz * math.sin(b),
            y,
            centre[2] + dx * math.sin(b) + dz * math.cos(b),
        )
    return turned


def _rolled(points: dict[str, Point], degrees: float, anchor: str) -> dict[str, Point]:
    """The figure tipped onto its left side (+) about the forward axis through the anchor."""
    if not degrees:
        return points
    _, ay, az = points[anchor]
    g = math.radians(degrees)
    rolled = {}
    for name, (x, y, z) in points.items():
        dy, dz = y - ay, z - az
        rolled[name] = (x, ay + dy * math.cos(g) - dz * math.sin(g), az + dy * math.sin(g) + dz * math.cos(g))
    return rolled


def _anchored(points: dict[str, Point], anchor: str, height: float) -> dict[str, Point]:
    ax, ay, az = points[anchor]
    return {name: (x - ax, y - ay + height, z - az) for name, (x, y, z) in points.items()}


def _up(forward: float) -> Point:
    r = math.radians(forward)
    return (math.sin(r), math.cos(r), 0.0)


def _limb(forward: float, out: float, side: float) -> tuple[Point, Point]:
    """A limb's direction (straight down turned `forward` degrees to the front, then `out` to the side)
    and its front: the way it moves when it flexes, square to it."""
    f, o = math.radians(forward), math.radians(out)
    along = (math.sin(f) * math.cos(o), -math.cos(f) * math.cos(o), side * math.sin(o))
    return along, (math.cos(f), math.sin(f), 0.0)


def _bend(limb: tuple[Point, Point], degrees: float) -> tuple[Point, Point]:
    """The next segment: `limb` turned towards its front by `degrees` (backwards when negative)."""
    along, front = limb
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _add(_scale(along, c), _scale(front, s)), _add(_scale(along, -s), _scale(front, c))


def _rotate(v: Point, axis: Point, angle: float) -> Point:
    """`v` turned by `angle` radians about the unit vector `axis` (Rodrigues)."""
    if not angle:
        return v
    c, s = math.cos(angle), math.sin(angle)
    cross = (
        axis[1] * v[2] - axis[2] * v[1],
        axis[2] * v[0] - axis[0] * v[2],
        axis[0] * v[1] - axis[1] * v[0],
    )
    dot = sum(a * b for a, b in zip(axis, v, strict=True))
    return tuple(v[i] * c + cross[i] * s + axis[i] * dot * (1 - c) for i in range(3))  # type: ignore[return-value]


def _add(a: Point, b: Point) -> Point:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _scale(v: Point, k: float) -> Point:
    return (v[0] * k, v[1] * k, v[2] * k)


def lowest(frame: Frame, entry: ExerciseKeyframes, figure: Figure) -> tuple[str, float]:
    """The part of the figure (or a prop it holds) nearest to or deepest below the floor, and its height."""
    heights = {name: y for name, (_, y, _) in frame.points.items()}
    heights["head"] -= figure.segments.head
    bell = kettlebell_centre(frame, entry, figure)
    if bell is not None:
        heights["kettlebell"] = bell[1] - figure.segments.kettlebell
    name = min(heights, key=lambda key: heights[key])
    return name, heights[name]


def kettlebell_centre(frame: Frame, entry: ExerciseKeyframes, figure: Figure) -> Point | None:
    """Where a held kettlebell hangs: just below the hands' midpoint."""
    if not any(prop.kind == "kettlebell" for prop in entry.props):
        return None
    left, right = frame.points["left_hand"], frame.points["right_hand"]
    drop = 1.8 * figure.segments.kettlebell
    return ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2 - drop, (left[2] + right[2]) / 2)
