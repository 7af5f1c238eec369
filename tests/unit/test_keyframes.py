"""The stick figure's key poses: every exercise animated, possible, on the floor, and mirrored faithfully."""

import shutil

import pytest
import yaml

from hipcoach.bot.entrypoints.cli import main
from hipcoach.content import DEFAULT_DIR, load
from hipcoach.content.figure import flat, frames, joints, lowest, phases
from hipcoach.content.keyframes_schema import ExerciseKeyframes, Pose

CONTENT = load()
KEYFRAMES = CONTENT.keyframes
FIGURE = KEYFRAMES.figure


def every_frame():
    for exercise_id, entry in KEYFRAMES.exercises.items():
        tempo = phases(CONTENT.exercises[exercise_id].dose.tempo, KEYFRAMES)
        for number, frame in enumerate(frames(entry, tempo, FIGURE)):
            yield exercise_id, entry, number, frame


def test_every_exercise_has_keyframes_and_every_keyframe_entry_is_an_exercise():
    assert set(KEYFRAMES.exercises) == set(CONTENT.exercises)


def test_the_spine_stays_within_its_neutral_band_in_every_frame_of_a_hinge():
    hinges = {exercise_id for exercise_id, entry in KEYFRAMES.exercises.items() if entry.hinge}
    assert {"standing_hip_hinge", "romanian_deadlift", "kettlebell_deadlift", "dowel_hip_hinge"} <= hinges
    bent = [
        (exercise_id, number, frame.angles["spine"])
        for exercise_id, entry, number, frame in every_frame()
        if entry.hinge and abs(frame.angles["spine"]) > FIGURE.neutral_spine
    ]
    assert bent == []


def test_in_a_standing_hinge_the_trunk_tips_through_the_hip_not_the_back():
    for exercise_id in ("standing_hip_hinge", "romanian_deadlift", "dowel_hip_hinge"):
        first, last = (flat(pose) for pose in (KEYFRAMES.exercises[exercise_id].poses[i] for i in (0, -1)))
        assert last["trunk"] - first["trunk"] >= 40
        assert last["left.hip"] - first["left.hip"] >= last["trunk"] - first["trunk"]
        assert abs(last["spine"] - first["spine"]) <= FIGURE.neutral_spine


def test_no_limb_passes_through_the_floor_in_any_frame():
    sunk = []
    for exercise_id, entry, number, frame in every_frame():
        part, height = lowest(frame, entry, FIGURE)
        if height < -FIGURE.floor_tolerance:
            sunk.append((exercise_id, number, part, round(height, 3)))
    assert sunk == []


def test_the_anchored_joint_stays_put_in_every_frame():
    for _, entry, _, frame in every_frame():
        assert frame.points[entry.anchor] == pytest.approx((0.0, entry.anchor_height, 0.0))


def test_balance_and_knee_exercises_are_also_shown_from_the_front():
    for exercise_id in ("single_leg_rdl_reach", "curtsy_lunge", "hip_rotation"):
        assert "front" in KEYFRAMES.exercises[exercise_id].views


def _swapped(pose: Pose) -> Pose:
    return pose.model_copy(
        update={"left": pose.right, "right": pose.left, "turn": -pose.turn, "roll": -pose.roll}
    )


def _other(name: str) -> str:
    side, _, rest = name.partition("_")
    return {"left": "right", "right": "left"}.get(side, side) + ("_" + rest if rest else "")


def test_left_and_right_sides_mirror_in_front_views():
    """Swapping the sides of a pose draws its mirror image: an angle means the same on either side."""
    for exercise_id, entry in KEYFRAMES.exercises.items():
        if "front" not in entry.views:
            continue
        mirror_entry = ExerciseKeyframes.model_validate(
            {**entry.model_dump(), "anchor": _other(entry.anchor)}
        )
        for pose in entry.poses:
            points = joints(flat(pose), entry, FIGURE)
            mirrored = joints(flat(_swapped(pose)), mirror_entry, FIGURE)
            for name, (x, y, z) in points.items():
                assert mirrored[_other(name)] == pytest.approx((x, y, -z), abs=1e-9), (exercise_id, name)


def test_a_pose_the_same_on_both_sides_is_symmetric_from_the_front():
    entry = KEYFRAMES.exercises["pallof_press"]
    points = joints(flat(entry.poses[0]), entry, FIGURE)
    middle = points["pelvis"][2]
    for name in ("hip", "knee", "ankle", "toe", "shoulder", "elbow", "hand"):
        left, right = points[f"left_{name}"], points[f"right_{name}"]
        assert left[:2] == pytest.approx(right[:2]) and left[2] - middle == pytest.approx(middle - right[2])


def test_tempo_numbers_set_the_phases_and_tempo_words_come_from_content():
    assert phases("2-1-2", KEYFRAMES) == (2, 1, 2)
    assert phases("3-1-2", KEYFRAMES) == (3, 1, 2)
    assert phases("Slow and controlled", KEYFRAMES) == KEYFRAMES.tempos["slow and controlled"]
    assert phases("whenever you like", KEYFRAMES) == KEYFRAMES.default_tempo


def test_one_repetition_lasts_as_long_as_its_tempo_says():
    entry = KEYFRAMES.exercises["kneeling_hip_thrust"]
    seconds = FIGURE.rest_seconds + sum(phases("2-1-2", KEYFRAMES))
    assert len(frames(entry, (2, 1, 2), FIGURE)) == round(seconds * FIGURE.frames_per_second)


# ---- the content check names the file, the field and the reason ---------------------------------


@pytest.fixture
def broken_keyframes(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(DEFAULT_DIR, root)

    def edit(change) -> str:
        path = root / "keyframes.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return str(root)

    return edit


def check(root, capsys) -> list[str]:
    assert main(["content", "check", root]) == 1
    return capsys.readouterr().out.splitlines()


def test_a_knee_bent_past_its_range_is_reported_with_file_and_field(broken_keyframes, capsys):
    root = broken_keyframes(lambda d: d["exercises"]["glute_bridge"]["poses"][0].update(knee=170))
    assert check(root, capsys) == [
        "keyframes.yaml: exercises.glute_bridge.poses.0.knee: 170° is outside the possible range 0° to 150°"
    ]


def test_an_exercise_without_keyframes_is_reported(broken_keyframes, capsys):
    root = broken_keyframes(lambda d: d["exercises"].pop("plank"))
    assert check(root, capsys) == ["keyframes.yaml: exercises.plank: no keyframes for this exercise"]


def test_keyframes_for_an_unknown_exercise_are_reported(broken_keyframes, capsys):
    def add(data):
        data["exercises"]["moonwalk"] = data["exercises"]["plank"]

    assert check(broken_keyframes(add), capsys) == [
        "keyframes.yaml: exercises.moonwalk: unknown exercise id 'moonwalk'"
    ]


def test_a_rounded_back_in_a_hinge_is_reported(broken_keyframes, capsys):
    root = broken_keyframes(lambda d: d["exercises"]["romanian_deadlift"]["poses"][1].update(spine=25))
    assert check(root, capsys) == [
        "keyframes.yaml: exercises.romanian_deadlift.poses.1.spine: "
        f"a hinge keeps the spine neutral (within ±{FIGURE.neutral_spine:g}°), not 25°"
    ]


def test_a_foot_through_the_floor_is_reported(broken_keyframes, capsys):
    root = broken_keyframes(lambda d: d["exercises"]["standing_hip_hinge"]["poses"][0].update(ankle=-40))
    (line,) = check(root, capsys)
    assert line.startswith("keyframes.yaml: exercises.standing_hip_hinge.poses.0: the left toe is ")
    assert line.endswith("cm below the floor")


def test_a_pose_field_that_does_not_exist_is_reported(broken_keyframes, capsys):
    root = broken_keyframes(lambda d: d["exercises"]["plank"]["poses"][0].update(knees=10))
    assert check(root, capsys) == [
        "keyframes.yaml: exercises.plank.poses.0.knees: Extra inputs are not permitted"
    ]
