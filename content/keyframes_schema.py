"""The shape of keyframes.yaml: key poses of a jointed stick figure for every exercise's animation.

Angles are in degrees. The figure faces +x, y is up and z is its left. A pose sets a joint for both
sides at once; `left` or `right` override one side. Ranges, the neutral-spine band and timing live in
the file's `figure` block, so a physiotherapist tunes them there, not in code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Metres = float
Side = Literal["left", "right"]
Joint = Literal["hip", "knee", "shoulder", "spine"]
LIMB_ANGLES = ("hip", "abduction", "rotation", "knee", "ankle", "shoulder", "arm_abduction", "elbow")
BODY_ANGLES = ("trunk", "spine", "neck", "roll", "turn")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limbs(_Strict):
    """Joint angles of one side (or both); unset means 'as the pose says', else 0."""

    hip: float | None = Field(default=None, description="flexion +, extension -, thigh against trunk")
    abduction: float | None = Field(default=None, description="hip: thigh away from the midline +")
    rotation: float | None = Field(default=None, description="hip external rotation + (turns the shin in)")
    knee: float | None = Field(default=None, description="flexion, 0 = straight")
    ankle: float | None = Field(default=None, description="dorsiflexion +, 0 = foot square to the shin")
    shoulder: float | None = Field(default=None, description="flexion +, 0 = arm along the trunk")
    arm_abduction: float | None = Field(default=None, description="arm out to the side +")
    elbow: float | None = Field(default=None, description="flexion, 0 = straight")


class Pose(Limbs):
    """One key pose: the trunk, and the limbs of both sides unless `left` or `right` say otherwise."""

    trunk: float = Field(default=0, description="lumbar segment from vertical, leaning forward +")
    spine: float = Field(default=0, description="bend between lower and upper back: rounding +, arching -")
    neck: float = Field(default=0, description="head against the upper back, chin down +")
    roll: float = Field(default=0, description="whole figure tipped onto its left side + about the anchor")
    turn: float = Field(default=0, description="all but the anchored leg turned to the left + about it")
    left: Limbs = Limbs()
    right: Limbs = Limbs()

    def angle(self, side: Side, name: str) -> float:
        """A limb angle of one side: its override, else the pose's value for both sides, else 0."""
        own = getattr(self.left if side == "left" else self.right, name)
        both = getattr(self, name)
        return own if own is not None else both if both is not None else 0.0


class Prop(_Strict):
    """Something drawn with the figure: a kettlebell in the hands, a band to an anchor, a dowel, a box."""

    kind: Literal["kettlebell", "band", "dowel", "box"]
    at: tuple[Metres, Metres, Metres] | None = Field(
        default=None, description="band anchor, or box corner (x, y, z) in metres from the figure's anchor"
    )
    size: tuple[Metres, Metres] | None = Field(default=None, description="box width and height, metres")


class ExerciseKeyframes(_Strict):
    """An exercise's animation: key poses from the start position to the end of the movement."""

    views: list[Literal["side", "front"]] = Field(default=["side"], min_length=1)
    anchor: str = Field(description="the joint that stays put, e.g. left_ankle, right_knee, left_elbow")
    anchor_height: Metres = Field(default=0, ge=0, le=0.5, description="the anchor's height above the floor")
    moving_joint: Joint = Field(default="hip", description="the joint marked in the drawing")
    hinge: bool = Field(default=False, description="a hip hinge: the spine must stay in its neutral band")
    cue: int = Field(default=0, ge=0, description="which of the exercise's cues is the caption")
    props: list[Prop] = Field(default_factory=list)
    poses: list[Pose] = Field(min_length=1, description="start position first; the figure returns to it")


class Segments(_Strict):
    """Segment lengths in metres."""

    pelvis_width: Metres = Field(gt=0)
    shoulder_width: Metres = Field(gt=0)
    lumbar: Metres = Field(gt=0)
    thoracic: Metres = Field(gt=0)
    neck: Metres = Field(gt=0)
    head: Metres = Field(gt=0, description="radius")
    upper_arm: Metres = Field(gt=0)
    forearm: Metres = Field(gt=0)
    thigh: Metres = Field(gt=0)
    shin: Metres = Field(gt=0)
    foot: Metres = Field(gt=0)
    kettlebell: Metres = Field(gt=0, description="radius")


class Figure(_Strict):
    """The stick figure, what counts as a possible pose, and how animations are timed."""

    segments: Segments
    ranges: dict[str, tuple[float, float]] = Field(description="joint name -> [lowest, highest] degrees")
    neutral_spine: float = Field(ge=0, le=30, description="largest spine bend still neutral, degrees")
    floor_tolerance: Metres = Field(ge=0, le=0.1, description="how far a point may dip below the floor")
    frames_per_second: int = Field(ge=4, le=30)
    rest_seconds: float = Field(ge=0, le=5, description="pause in the start position before each repetition")


class Keyframes(_Strict):
    """The whole file: the figure, timing for tempo words, and each exercise's key poses."""

    figure: Figure
    tempos: dict[str, tuple[float, float, float]] = Field(
        description="tempo text that is not 'down-hold-up' seconds -> (down, hold, up) seconds"
    )
    default_tempo: tuple[float, float, float]
    exercises: dict[str, ExerciseKeyframes]
