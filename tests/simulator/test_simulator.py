"""Hundreds of simulated users over twelve weeks of the real engine: the safety figures hold whatever the
tuning; the tuning figures (days per rung, dose lowered once capacity was exceeded, loaded hinge by week
8) are printed, not asserted (`python -m tests.simulator.run` prints them all as JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from tests.simulator.run import Figures, figures, simulate_many

USERS = 600  # about 45 s on two cores (0.14 s of CPU a user); `python -m tests.simulator.run 2000` for more


@pytest.fixture(scope="module")
def measured(content) -> Figures:
    found = figures(simulate_many(USERS, content), content)
    tuning = {
        key: getattr(found, key)
        for key in (
            "users",
            "sessions",
            "days_per_rung",
            "lowered_after_exceeded",
            "loaded_hinge_by_week_8",
            "sore_places",
            "kettlebell",
            "flare_ups",
            "plan_parts",
        )
    }
    print(json.dumps(tuning, indent=2))
    return found


def test_the_simulation_is_the_same_for_the_same_seeds(content):
    first, again = (figures(simulate_many(8, content, processes=1), content) for _ in range(2))
    assert asdict(first) == asdict(again)


def test_every_simulated_user_trains_and_nothing_unexpected_happens(measured):
    assert measured.sessions > measured.users * 10
    assert measured.anomalies == 0, measured.examples.get("anomalies")


def test_no_progression_after_pain_above_the_acceptable_zone_or_a_worse_morning(measured):
    assert measured.progress_after_too_much == 0, measured.examples.get("progress_after_too_much")


def test_every_reply_to_a_user_offers_a_way_forward(measured):
    assert measured.dead_ends == 0, measured.examples.get("dead_ends")


def test_no_one_is_placed_on_a_rung_their_screening_or_equipment_rules_out(measured):
    assert measured.excluded_placements == 0, measured.examples.get("excluded_placements")


def test_no_rung_is_left_for_a_harder_one_before_its_minimum_time(content, measured):
    assert measured.early_rung_exits == 0, measured.examples.get("early_rung_exits")
    least = content.progression.min_days_on_rung
    assert all(
        spread.get("n", 0) == 0 or spread["min"] >= least for spread in measured.days_per_rung.values()
    )


def test_typed_check_ins_are_read_as_the_simulated_users_meant_them(measured):
    assert measured.misread_checkins == 0, measured.examples.get("misread_checkins")


def test_nearly_every_user_pushed_past_their_capacity_has_the_dose_or_rung_lowered(measured):
    assert measured.lowered_after_exceeded["share"] >= 0.95, measured.lowered_after_exceeded


def test_pain_in_a_place_the_exercise_loads_is_answered_by_sparing_that_place(measured):
    assert measured.sore_places["sessions"] > 0
    assert measured.sore_places["share"] >= 0.95, measured.sore_places


def test_kettlebell_users_are_offered_a_heavier_bell_and_never_more_than_the_content_allows(
    content, measured
):
    assert measured.kettlebell["raised_a_bell"] > 0
    assert measured.kettlebell["most_bells_up"] <= content.progression.kettlebell.max_steps


def test_no_step_up_in_a_flare_ups_lighter_days_and_the_staged_return_is_walked(measured):
    flares = measured.flare_ups
    assert flares["told"] > 0 and flares["flare_step"] > 0 and flares["flare_done"] > 0
    assert flares["progress_in_lighter_days"] == 0, measured.examples.get("flare_steps_up")


def test_the_tap_about_the_rest_of_the_plan_is_answered_and_a_part_that_hurt_is_rested(measured):
    assert measured.plan_parts["fine"] > 0 and measured.plan_parts["warm_up"] > 0
