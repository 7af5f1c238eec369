"""Exercises agree with themselves: demands match their own steps and fixes, ladders climb in difficulty."""

from __future__ import annotations

import itertools
import re

import pytest

from hipcoach.content import load
from hipcoach.content.schema import Exercise

CONTENT = load()
# "bend your knees", "Bend both knees", "bend your knees a touch more"; not "keep the same small knee bend"
KNEE_BEND = re.compile(r"\bbend(?:ing)?\s+(?:\w+\s+){0,2}knees?\b", re.IGNORECASE)
KNEELING = re.compile(r"\bkneel|\bhands and knees\b", re.IGNORECASE)
LOADED = ("moderate", "high")


def told_to_bend_the_knees_under_load(exercise: Exercise) -> bool:
    """What the user is told to do (set-up, steps, fixes) bends the knees while a load sits on the spine."""
    told = [exercise.setup, *exercise.steps, *(f.fix for f in exercise.faults)]
    return exercise.demands.spinal_load in LOADED and any(KNEE_BEND.search(text) for text in told)


@pytest.mark.parametrize("exercise", CONTENT.exercises.values(), ids=lambda e: e.id)
def test_an_exercise_that_bends_the_knees_under_load_is_marked_so(exercise):
    if told_to_bend_the_knees_under_load(exercise):
        assert exercise.demands.knee_bend_under_load


def test_the_kettlebell_deadlift_bends_the_knees_under_load():
    deadlift = CONTENT.exercises["kettlebell_deadlift"]
    assert told_to_bend_the_knees_under_load(deadlift)
    assert deadlift.demands.knee_bend_under_load


def test_the_knee_check_would_catch_a_deadlift_marked_without_a_loaded_knee_bend():
    deadlift = CONTENT.exercises["kettlebell_deadlift"]
    wrong = deadlift.model_copy(
        update={"demands": deadlift.demands.model_copy(update={"knee_bend_under_load": False})}
    )
    assert told_to_bend_the_knees_under_load(wrong) and not wrong.demands.knee_bend_under_load


@pytest.mark.parametrize("exercise", CONTENT.exercises.values(), ids=lambda e: e.id)
def test_an_exercise_set_up_on_the_knees_is_marked_as_kneeling(exercise):
    if KNEELING.search(exercise.setup):
        assert exercise.demands.kneeling


@pytest.mark.parametrize("ladder", CONTENT.ladders.values(), ids=lambda ladder: ladder.id)
def test_every_ladder_climbs_in_difficulty(ladder):
    difficulties = [CONTENT.exercises[rung].difficulty for rung in ladder.rungs]
    assert all(lower < higher for lower, higher in itertools.pairwise(difficulties)), difficulties


def test_the_core_ladder_follows_difficulty_from_mobility_to_anti_rotation():
    rungs = CONTENT.ladders["core"].rungs
    assert rungs == sorted(rungs, key=lambda rung: CONTENT.exercises[rung].difficulty)
    assert rungs == ["cat_camel", "dowel_hip_hinge", "bird_dog", "plank", "side_plank", "pallof_press"]


@pytest.mark.parametrize("ladder", CONTENT.ladders.values(), ids=lambda ladder: ladder.id)
def test_easier_and_harder_links_follow_the_ladder(ladder):
    ends = [None, *ladder.rungs, None]
    for position, rung in enumerate(ladder.rungs, start=1):
        exercise = CONTENT.exercises[rung]
        assert (exercise.easier, exercise.harder) == (ends[position - 1], ends[position + 1])
