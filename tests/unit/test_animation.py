"""Exercise animations: deterministic, small, cached on disk by what they show."""

import io

import pytest
from PIL import Image

from hipcoach.bot.files.animation import Animation, images
from hipcoach.bot.files.animation_files import AnimationCache, gif, mp4
from hipcoach.content import load
from hipcoach.content.keyframes_schema import Keyframes

CONTENT = load()
FPS = CONTENT.keyframes.figure.frames_per_second
MP4_MOST = 40_000  # bytes: what Telegram gets, a few tens of KB
GIF_MOST = 120_000  # bytes: the terminal's and the review page's copy


@pytest.fixture(scope="module")
def drawn():
    return {exercise_id: images(Animation.of(exercise_id, CONTENT)) for exercise_id in CONTENT.exercises}


def test_the_same_content_gives_the_same_bytes_every_time(drawn):
    for exercise_id in ("romanian_deadlift", "curtsy_lunge"):
        again = images(Animation.of(exercise_id, CONTENT))
        assert gif(drawn[exercise_id], FPS) == gif(again, FPS)
        assert mp4(drawn[exercise_id], FPS) == mp4(again, FPS)


def test_every_animation_stays_small(drawn):
    sizes = {
        exercise_id: (len(mp4(frames, FPS)), len(gif(frames, FPS))) for exercise_id, frames in drawn.items()
    }
    assert {k: v for k, v in sizes.items() if v[0] > MP4_MOST or v[1] > GIF_MOST} == {}


def test_a_gif_loops_for_as_long_as_one_repetition_at_the_exercise_tempo(drawn):
    data = gif(drawn["kneeling_hip_thrust"], FPS)
    image = Image.open(io.BytesIO(data))
    total = 0
    for number in range(image.n_frames):
        image.seek(number)
        total += image.info["duration"]
    assert image.info["loop"] == 0
    assert total == pytest.approx(1000 * len(drawn["kneeling_hip_thrust"]) / FPS, abs=10)


def test_a_front_view_sits_beside_the_side_view():
    side_only, both = (images(Animation.of(e, CONTENT))[0] for e in ("glute_bridge", "single_leg_rdl_reach"))
    assert both.width == 2 * side_only.width and both.height == side_only.height


def test_files_are_cached_on_disk_under_a_hash_of_what_they_show(tmp_path):
    cache = AnimationCache(tmp_path)
    first = cache.file("plank", CONTENT, "gif")
    assert first.kind == "animation" and first.name.startswith("plank-") and first.name.endswith(".gif")
    assert (tmp_path / first.name).read_bytes() == first.data
    (tmp_path / first.name).write_bytes(b"kept")
    assert AnimationCache(tmp_path).file("plank", CONTENT, "gif").data == b"kept"  # read, not drawn again


def test_a_changed_pose_is_a_new_file_name():
    raw = CONTENT.keyframes.model_dump()
    raw["exercises"]["plank"]["poses"][-1]["neck"] = 10
    changed = CONTENT.model_copy(update={"keyframes": Keyframes.model_validate(raw)})
    assert (
        AnimationCache().file("plank", changed, "gif").name
        != AnimationCache().file("plank", CONTENT, "gif").name
    )
