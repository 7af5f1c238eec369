"""An exercise's animation: its stick figure drawn frame by frame with Pillow, as a looping GIF or MP4.

The same content always gives the same bytes (no clock, no random, one encoder thread), so files are
cached on disk under a hash of what they show and Telegram's file id for them can be kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from hipcoach.content.figure import Frame, Point, frames, kettlebell_centre, phases
from hipcoach.content.keyframes_schema import ExerciseKeyframes, Figure
from hipcoach.content.schema import Content

VERSION = 1  # bump when the drawing changes, so cached files are made again
PANEL = (240, 190)  # pixels per view
CAPTION = 40  # pixels under the panels
SUPERSAMPLE = 2  # drawn this much larger, then scaled down: smooth lines
MARGIN = 14
LINE = 5  # limb width, at final size
COLOURS = {
    "background": (255, 255, 255),
    "floor": (140, 140, 140),
    "near": (31, 59, 87),
    "far": (150, 172, 196),
    "spine": (42, 157, 143),
    "guide": (170, 220, 212),
    "joint": (231, 111, 81),
    "prop": (90, 90, 90),
    "band": (214, 162, 40),
    "text": (30, 30, 30),
}
LIMBS = (("hip", "knee", "ankle", "toe"), ("shoulder", "elbow", "hand"))
MARKED = {"hip": "pelvis", "spine": "mid_back", "knee": "{near}_knee", "shoulder": "{near}_shoulder"}
Coordinates = tuple[float, ...]  # a point's x, y, z; also points worked out along the figure
Pixels = Callable[[Coordinates], tuple[float, float]]  # where a point lands on the canvas


@dataclass(frozen=True)
class Animation:
    """What one exercise's animation shows, ready to draw."""

    exercise_id: str
    entry: ExerciseKeyframes
    figure: Figure
    frames: list[Frame]
    caption: str

    @classmethod
    def of(cls, exercise_id: str, content: Content) -> Animation:
        exercise, keyframes = content.exercises[exercise_id], content.keyframes
        entry = keyframes.exercises[exercise_id]
        timeline = frames(entry, phases(exercise.dose.tempo, keyframes), keyframes.figure)
        return cls(exercise_id, entry, keyframes.figure, timeline, exercise.cues[entry.cue])

    def digest(self) -> str:
        """A hash of everything the drawing depends on."""
        shown = [VERSION, self.entry.model_dump(), self.figure.model_dump(), self.caption, len(self.frames)]
        shown.append([frame.angles for frame in self.frames])
        return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def _project(point: Coordinates, view: str) -> tuple[float, float, float]:
    """(across, up, nearness) as seen from the figure's left side, or from in front of it."""
    x, y, z = point
    return (x, y, z) if view == "side" else (z, y, x)


class _Camera:
    """Metres to pixels for one view: every frame fits, the floor along the bottom."""

    def __init__(self, animation: Animation, view: str, scale: float) -> None:
        across = [_project(p, view)[0] for f in animation.frames for p in f.points.values()]
        ups = [p[1] for f in animation.frames for p in f.points.values()]
        self.scale = scale
        self.mid = ((min(across) + max(across)) / 2, (max(ups) + min(0.0, min(ups))) / 2)
        self.view = view

    def __call__(self, point: Coordinates) -> tuple[float, float]:
        u, v, _ = _project(point, self.view)
        width, height = PANEL
        return (width / 2 + (u - self.mid[0]) * self.scale, height / 2 - (v - self.mid[1]) * self.scale)


def _fit(animation: Animation, view: str) -> float:
    points = [_project(p, view) for f in animation.frames for p in f.points.values()]
    head = animation.figure.segments.head
    span_u = max(p[0] for p in points) - min(p[0] for p in points) + 2 * head
    span_v = max(p[1] for p in points) - min(0.0, min(p[1] for p in points)) + 2 * head
    return min((PANEL[0] - 2 * MARGIN) / span_u, (PANEL[1] - 2 * MARGIN) / span_v)


def images(animation: Animation) -> list[Image.Image]:
    """Every frame as an RGB image: one panel per view side by side, the cue underneath."""
    scale = min(_fit(animation, view) for view in animation.entry.views)
    cameras = [_Camera(animation, view, scale) for view in animation.entry.views]
    caption = _caption(animation.caption, PANEL[0] * len(cameras))
    cached: dict[str, Image.Image] = {}
    out = []
    for frame in animation.frames:
        key = json.dumps(frame.angles, sort_keys=True)
        if key not in cached:
            cached[key] = _draw(animation, frame, cameras, caption)
        out.append(cached[key])
    return out


def _draw(animation: Animation, frame: Frame, cameras: list[_Camera], caption: Image.Image) -> Image.Image:
    k = SUPERSAMPLE
    width, height = PANEL
    canvas = Image.new("RGB", (width * len(cameras) * k, height * k), COLOURS["background"])
    draw = ImageDraw.Draw(canvas)
    for index, camera in enumerate(cameras):

        def px(
            point: Coordinates, camera: _Camera = camera, left: int = index * width
        ) -> tuple[float, float]:
            u, v = camera(point)
            return ((left + u) * k, v * k)

        _scene(draw, animation, frame, camera.view, px)
    small = canvas.resize((width * len(cameras), height), Image.Resampling.LANCZOS)
    full = Image.new("RGB", (small.width, height + CAPTION), COLOURS["background"])
    full.paste(small, (0, 0))
    full.paste(caption, (0, height))
    return full


def _scene(draw: ImageDraw.ImageDraw, animation: Animation, frame: Frame, view: str, px: Pixels) -> None:
    k, points, seg = SUPERSAMPLE, frame.points, animation.figure.segments
    floor_y = px((0.0, 0.0, 0.0))[1]
    left_edge = px((-9.0, 0.0, -9.0) if view == "side" else (0.0, 0.0, -9.0))[0]
    draw.line([(max(left_edge, 0), floor_y), (10_000, floor_y)], fill=COLOURS["floor"], width=2 * k)
    for prop in animation.entry.props:
        if prop.kind == "band" and prop.at:
            hands = _middle(points["left_hand"], points["right_hand"])
            draw.line([px(hands), px(prop.at)], fill=COLOURS["band"], width=3 * k)
        if prop.kind == "box" and prop.at and prop.size:
            x, y, z = prop.at
            corner = (x + prop.size[0], y + prop.size[1], z + prop.size[0])
            (a, b), (c, d) = px(prop.at), px(corner)
            draw.rectangle([min(a, c), min(b, d), max(a, c), max(b, d)], outline=COLOURS["prop"], width=2 * k)
    sides = sorted(("left", "right"), key=lambda side: _project(points[f"{side}_hip"], view)[2])
    near = sides[-1]
    for side in sides:
        colour = COLOURS["near"] if side == near else COLOURS["far"]
        for chain in LIMBS:
            draw.line([px(points[f"{side}_{j}"]) for j in chain], fill=colour, width=LINE * k, joint="curve")
    draw.line([px(points["left_hip"]), px(points["right_hip"])], fill=COLOURS["near"], width=LINE * k)
    draw.line(
        [px(points["left_shoulder"]), px(points["right_shoulder"])], fill=COLOURS["near"], width=LINE * k
    )
    draw.line([px(points["neck"]), px(points["head"])], fill=COLOURS["near"], width=LINE * k)
    _spine(draw, frame, seg.lumbar + seg.thoracic, px)
    _head(draw, points, seg.head, px)
    for prop in animation.entry.props:
        if prop.kind == "dowel":
            _dowel(draw, points, seg.head, px)
        if prop.kind == "kettlebell":
            centre = kettlebell_centre(frame, animation.entry, animation.figure)
            assert centre is not None
            _kettlebell(draw, centre, _middle(points["left_hand"], points["right_hand"]), seg.kettlebell, px)
    marked = MARKED[animation.entry.moving_joint].format(near=near)
    x, y = px(points[marked])
    r = 7 * k
    draw.ellipse([x - r, y - r, x + r, y + r], outline=COLOURS["joint"], width=3 * k)


def _spine(draw: ImageDraw.ImageDraw, frame: Frame, length: float, px: Pixels) -> None:
    """The spine in its own colour, over a straight guide along the lower back: a neutral spine covers it."""
    pelvis, mid = frame.points["pelvis"], frame.points["mid_back"]
    lumbar = math.dist(pelvis, mid)
    guide = tuple(p + (m - p) * length / lumbar for p, m in zip(pelvis, mid, strict=True))
    draw.line([px(pelvis), px(guide)], fill=COLOURS["guide"], width=2 * SUPERSAMPLE)
    chain = [px(frame.points[name]) for name in ("pelvis", "mid_back", "neck")]
    draw.line(chain, fill=COLOURS["spine"], width=(LINE + 2) * SUPERSAMPLE, joint="curve")


def _head(draw: ImageDraw.ImageDraw, points: dict[str, Point], radius: float, px: Pixels) -> None:
    x, y = px(points["head"])
    r = abs(px((0.0, radius, 0.0))[1] - px((0.0, 0.0, 0.0))[1])
    outline = COLOURS["near"]
    draw.ellipse(
        [x - r, y - r, x + r, y + r], fill=COLOURS["background"], outline=outline, width=LINE * SUPERSAMPLE
    )


def _dowel(draw: ImageDraw.ImageDraw, points: dict[str, Point], radius: float, px: Pixels) -> None:
    """A stick touching the back of the head, the upper back and the tailbone."""
    pelvis, neck = points["pelvis"], points["neck"]
    axis = [n - p for p, n in zip(pelvis, neck, strict=True)]
    size = math.hypot(*axis)
    unit = [a / size for a in axis]
    back = (-unit[1], unit[0], 0.0) if abs(unit[2]) < 0.9 else (0.0, 0.0, 0.0)
    offset = 0.06
    start = tuple(p + b * -offset - u * 0.12 for p, b, u in zip(pelvis, back, unit, strict=True))
    end = tuple(n + b * -offset + u * (2 * radius + 0.1) for n, b, u in zip(neck, back, unit, strict=True))
    draw.line([px(start), px(end)], fill=COLOURS["band"], width=3 * SUPERSAMPLE)


def _kettlebell(draw: ImageDraw.ImageDraw, centre: Point, hands: Point, radius: float, px: Pixels) -> None:
    x, y = px(centre)
    r = abs(px((0.0, radius, 0.0))[1] - px((0.0, 0.0, 0.0))[1])
    draw.line([px(hands), (x, y)], fill=COLOURS["prop"], width=3 * SUPERSAMPLE)
    draw.ellipse([x - r, y - r, x + r, y + r], fill=COLOURS["prop"])


def _middle(a: Point, b: Point) -> Point:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _caption(text: str, width: int) -> Image.Image:
    """The cue in one or two centred lines."""
    image = Image.new("RGB", (width, CAPTION), COLOURS["background"])
    draw = ImageDraw.Draw(image)
    font = _font(15)
    lines = textwrap.wrap(text, width=max(10, width // 8))[:2]
    for number, line in enumerate(lines):
        left, _, right, _ = draw.textbbox((0, 0), line, font=font)
        y = (CAPTION - 18 * len(lines)) / 2 + 18 * number
        draw.text(((width - (right - left)) / 2, y), line, fill=COLOURS["text"], font=font)
    return image
