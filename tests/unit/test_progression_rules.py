"""The progression rules, one by one, as a physio would check them."""

from datetime import UTC, datetime, timedelta

import pytest

from hipcoach.flows.progression import alternative, decide, exclusion, is_sticking, neighbour

NOW = datetime(2026, 12, 10, 18, 0, tzinfo=UTC)
CAN_KNEEL = {"load_pain": False, "kneeling_ok": True, "knee_issues": False, "equipment": []}
NO_KNEELING = {"load_pain": False, "kneeling_ok": False, "knee_issues": True, "equipment": []}
TOP, BOTTOM = 2, -3  # the dose levels of content/data/progression.yaml (flows/dose.py)
BELLS = 2  # kettlebell max_steps in content/data/progression.yaml (flows/load.py)


def session(exercise="glute_bridge", pain=2, effort="ok", control="smooth", morning="same", days_ago=0):
    at = (NOW - timedelta(days=days_ago)).isoformat()
    return {
        "at": at,
        "exercise": exercise,
        "pain": pain,
        "effort": effort,
        "control": control,
        "morning": morning,
    }


def settled_week(exercise="glute_bridge"):
    """Three smooth, comfortable counted sessions over eight days, mornings settled."""
    return [session(exercise, days_ago=8), session(exercise, days_ago=4), session(exercise, effort="easy")]


def test_good_sessions_raise_the_dose_before_the_rung(content):
    history = [session(days_ago=2), session(effort="easy")]
    decision = decide(history, "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.exercise, decision.reason, decision.level) == (
        "progress",
        "glute_bridge",
        "progress_dose",
        1,
    )


def test_smooth_comfortable_sessions_at_the_top_dose_progress_one_rung_after_the_minimum_time(content):
    history = [{**entry, "level": TOP} for entry in settled_week()]
    decision = decide(history, "glute_bridge", CAN_KNEEL, NOW, content, TOP)
    assert (decision.kind, decision.exercise, decision.reason) == (
        "progress",
        "standing_hip_hinge",
        "progress_good",
    )
    assert decision.params == {"count": 2, "pain": 2}


def test_good_sessions_too_close_together_hold_with_the_minimum_time_said(content):
    history = [{**session(days_ago=d), "level": TOP} for d in (2, 1, 0)]
    decision = decide(history, "glute_bridge", CAN_KNEEL, NOW, content, TOP)
    assert (decision.kind, decision.reason) == ("hold", "hold_min_time")
    assert decision.params == {"days": 7, "count": 3}


def test_a_check_in_that_does_not_count_never_moves_anyone(content):
    history = [*settled_week()[:-1], {**session(effort="easy"), "counted": False}]
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content).reason == "hold_uncounted"


def test_knee_pain_above_five_switches_to_a_rung_that_spares_the_knee(content):
    answers = {**CAN_KNEEL, "equipment": ["kettlebell"]}
    knee = {**session("kettlebell_swing", pain=6), "location": "knee"}
    decision = decide([knee], "kettlebell_swing", answers, NOW, content)
    assert (decision.kind, decision.reason, decision.params["place"]) == ("simplify", "spare_place", "knee")
    assert not content.exercises[decision.exercise].demands.knee_bend_under_load


def test_one_good_session_is_not_enough_to_progress(content):
    decision = decide([session()], "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.reason) == ("hold", "hold_one_more")


def test_sessions_on_an_earlier_rung_do_not_count_towards_progress(content):
    history = [session(exercise="kneeling_hip_thrust", days_ago=2), session()]
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content).kind == "hold"


@pytest.mark.parametrize("pain", [4, 5])
def test_acceptable_pain_holds(content, pain):
    history = [session(days_ago=2), session(pain=pain)]
    decision = decide(history, "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.exercise, decision.params) == ("hold", "glute_bridge", {"pain": pain})


@pytest.mark.parametrize("pain", [6, 8, 10])
def test_pain_above_five_lowers_the_dose_first(content, pain):
    decision = decide([session(pain=pain)], "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.exercise, decision.reason, decision.level) == (
        "simplify",
        "glute_bridge",
        "simplify_pain_dose",
        -1,
    )


@pytest.mark.parametrize("pain", [6, 8, 10])
def test_pain_above_five_at_the_lowest_dose_steps_back_one_rung(content, pain):
    decision = decide([session(pain=pain)], "glute_bridge", CAN_KNEEL, NOW, content, BOTTOM)
    assert (decision.kind, decision.exercise, decision.reason) == (
        "simplify",
        "kneeling_hip_thrust",
        "simplify_pain",
    )


def test_lost_form_simplifies_even_without_pain(content):
    decision = decide([session(pain=0, control="lost")], "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.reason) == ("simplify", "simplify_control")


def test_a_worse_next_morning_lowers_the_dose_then_the_rung(content):
    history = [session(days_ago=2), session(morning="worse")]
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content).reason == "simplify_mornings_dose"
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content, BOTTOM).reason == "simplify_mornings"


def test_two_worse_mornings_in_a_row_simplify(content):
    history = [session(morning="worse", days_ago=2), session(morning="worse")]
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content, BOTTOM).reason == "simplify_mornings"


def test_a_rising_weekly_pain_trend_simplifies_and_suggests_a_rest_day(content):
    history = [session(pain=2, days_ago=d) for d in (12, 10)] + [session(pain=4, days_ago=d) for d in (3, 0)]
    decision = decide(history, "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.reason, decision.rest_day) == ("simplify", "simplify_trend_dose", True)


def test_pain_rising_inside_the_safe_zone_is_no_trend(content):
    history = [session(pain=0, days_ago=d) for d in (12, 10)] + [session(pain=3, days_ago=d) for d in (3, 0)]
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content).reason != "simplify_trend"


def test_without_a_morning_answer_the_decision_waits(content):
    decision = decide([session(morning=None)], "glute_bridge", CAN_KNEEL, NOW, content)
    assert decision.kind == "wait"


def test_wobbly_control_holds_with_the_reason(content):
    history = [session(days_ago=2), session(control="wobbly")]
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content).reason == "hold_control"


def test_a_hard_effort_lowers_the_dose_and_at_the_lowest_holds(content):
    history = [session(days_ago=2), session(effort="hard")]
    decision = decide(history, "glute_bridge", CAN_KNEEL, NOW, content)
    assert (decision.reason, decision.level) == ("ease_effort", -1)
    assert decide(history, "glute_bridge", CAN_KNEEL, NOW, content, BOTTOM).reason == "hold_effort"


def test_simplifying_never_lands_on_a_kneeling_rung_for_someone_who_cannot_kneel(content):
    decision = decide([session(pain=7)], "glute_bridge", NO_KNEELING, NOW, content, BOTTOM)
    assert decision.kind == "hold" and decision.reason == "hold_bottom"
    assert ("kneeling_hip_thrust", "skip_kneeling") in decision.skipped


def test_progress_skips_rungs_needing_equipment_the_user_lacks_and_says_why(content):
    answers = {**CAN_KNEEL, "equipment": ["kettlebell"]}
    history = [{**session("romanian_deadlift", days_ago=d), "level": TOP, "load": BELLS} for d in (11, 6, 0)]
    decision = decide(history, "romanian_deadlift", answers, NOW, content, TOP, BELLS)
    assert decision.exercise == "kettlebell_swing"
    assert decision.skipped == (("pull_through", "skip_equipment"),)


def test_at_the_top_rung_good_sessions_hold(content):
    answers = {**CAN_KNEEL, "equipment": ["kettlebell"]}
    history = [{**session("kettlebell_swing", days_ago=d), "level": TOP, "load": BELLS} for d in (11, 6, 0)]
    assert decide(history, "kettlebell_swing", answers, NOW, content, TOP, BELLS).reason == "hold_top"


def test_exclusion_names_the_reason(content):
    assert exclusion(content.exercises["kneeling_hip_thrust"], NO_KNEELING) == "skip_kneeling"
    assert exclusion(content.exercises["kettlebell_swing"], CAN_KNEEL) == "skip_equipment"
    assert exclusion(content.exercises["glute_bridge"], NO_KNEELING) is None
    assert exclusion(content.exercises["curtsy_lunge"], {**CAN_KNEEL, "knee_issues": True}) == "skip_knees"


def test_neighbour_walks_past_every_excluded_rung(content):
    assert neighbour("glute_bridge", "harder", CAN_KNEEL, content) == (
        "standing_hip_hinge",
        (),
    )


def test_two_simplifications_in_two_weeks_are_a_sticking_point(content):
    rules = content.progression
    decisions = [{"at": (NOW - timedelta(days=d)).isoformat(), "kind": "simplify"} for d in (10, 1)]
    assert is_sticking(decisions, NOW, rules)
    old = [{"at": (NOW - timedelta(days=d)).isoformat(), "kind": "simplify"} for d in (30, 1)]
    assert not is_sticking(old, NOW, rules)


def test_four_holds_in_a_row_over_ten_days_are_a_sticking_point(content):
    holds = [{"at": (NOW - timedelta(days=d)).isoformat(), "kind": "hold"} for d in (12, 8, 4, 0)]
    assert is_sticking(holds, NOW, content.progression)
    assert not is_sticking([*holds[1:]], NOW, content.progression)
    squeezed = [{"at": (NOW - timedelta(days=d)).isoformat(), "kind": "hold"} for d in (3, 2, 1, 0)]
    assert not is_sticking(squeezed, NOW, content.progression)  # a daily schedule gets its ten days too


def test_maintaining_at_the_top_rung_is_no_sticking_point(content):
    holds = [
        {"at": (NOW - timedelta(days=d)).isoformat(), "kind": "hold", "reason": "hold_top"}
        for d in (20, 15, 10, 5, 0)
    ]
    assert not is_sticking(holds, NOW, content.progression)


def test_the_alternative_is_of_comparable_difficulty(content):
    _ladder, exercise = alternative("hinge", CAN_KNEEL, content, "glute_bridge")
    assert content.exercises[exercise].difficulty <= content.exercises["glute_bridge"].difficulty


def test_the_alternative_comes_from_another_ladder_and_fits_the_screening(content):
    ladder, exercise = alternative("hinge", NO_KNEELING, content)
    assert ladder != "hinge"
    assert exclusion(content.exercises[exercise], NO_KNEELING) is None
