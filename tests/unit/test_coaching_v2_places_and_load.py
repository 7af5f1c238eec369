"""Where it hurts and how heavy: pain in a place an exercise loads moves to a rung that spares it, and a
kettlebell rung's last dose step is the next bell up, the first to go when it was too much."""

import pytest
from pydantic import ValidationError

from hipcoach.content.loader import cross_check
from hipcoach.content.schema import SparedPlace
from hipcoach.flows.feedback import read_feedback
from hipcoach.flows.load import guidance
from hipcoach.flows.progression import decide, since_last_change
from tests.chat import EngineChat
from tests.unit.test_progression_rules import CAN_KNEEL, NOW, TOP, session

BELL = {**CAN_KNEEL, "equipment": ["kettlebell", "band_cable"]}
MOST_BELLS = 2  # kettlebell max_steps in content/data/progression.yaml


def hurt(exercise, place, pain=6, **fields):
    return {
        **session(exercise, pain=pain, effort="hard", control="wobbly", morning=None),
        "location": place,
        **fields,
    }


def good_run(exercise, level=TOP, load=0):
    return [{**session(exercise, days_ago=d), "level": level, "load": load} for d in (11, 6, 0)]


# ---- where it hurts ----


def test_hip_pain_above_five_on_the_swing_moves_to_the_nearest_rung_that_spares_the_hip(content):
    decision = decide([hurt("kettlebell_swing", "hip")], "kettlebell_swing", BELL, NOW, content)
    assert (decision.kind, decision.exercise, decision.reason) == ("simplify", "pull_through", "spare_place")
    assert decision.params["place"] == "hip" and decision.params["spares"]


def test_hamstring_pain_on_the_standing_hinge_moves_to_the_glute_bridge(content):
    decision = decide(
        [hurt("standing_hip_hinge", "hamstring", 7)], "standing_hip_hinge", CAN_KNEEL, NOW, content
    )
    assert (decision.exercise, decision.reason) == ("glute_bridge", "spare_place")


def test_wrist_pain_with_no_easier_rung_moves_to_a_slightly_harder_one_that_spares_the_wrist(content):
    decision = decide(
        [hurt("four_point_rock_back", "wrist")], "four_point_rock_back", CAN_KNEEL, NOW, content
    )
    assert (decision.exercise, decision.reason) == ("kneeling_hip_thrust", "spare_place")


def test_knee_pain_with_no_sparing_rung_near_lightens_the_dose(content):
    decision = decide([hurt("four_point_rock_back", "knee")], "four_point_rock_back", CAN_KNEEL, NOW, content)
    assert (decision.kind, decision.reason, decision.level) == ("simplify", "spare_place_dose", -1)


def test_place_pain_at_the_lightest_dose_with_nothing_sparing_holds_and_says_to_have_it_checked(content):
    history = [hurt("four_point_rock_back", "knee", level=-3)]
    decision = decide(history, "four_point_rock_back", CAN_KNEEL, NOW, content, level=-3)
    assert (decision.kind, decision.reason) == ("hold", "spare_place_bottom")
    assert "have your knee checked" in content.text("spare_place_bottom", **_told(decision))


def test_pain_in_a_place_the_exercise_does_not_load_follows_the_usual_pain_rules(content):
    decision = decide([hurt("glute_bridge", "shoulder", 7)], "glute_bridge", CAN_KNEEL, NOW, content, level=0)
    assert decision.reason == "simplify_pain_dose"


def test_place_pain_in_the_acceptable_zone_never_leads_to_a_step_up(content):
    history = [*good_run("kettlebell_swing", load=MOST_BELLS)[:-1], hurt("kettlebell_swing", "hip", 5)]
    history[-1].update(level=TOP, load=MOST_BELLS, morning="same")
    decision = decide(history, "kettlebell_swing", BELL, NOW, content, TOP, MOST_BELLS)
    assert decision.kind == "hold"


def test_the_coach_says_which_place_it_spares_and_why_once(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    chat.press("session:done")
    chat.send("my knee hurt, about a 7, hard, wobbly")
    assert "Your knee hurt at 7 out of 10" in chat.text and "spares your knee" in chat.text
    assert "not your back" not in chat.text  # the general 'elsewhere' note is not said as well
    assert chat.state.data["position"]["exercise"] == "glute_bridge"


@pytest.mark.parametrize(
    ("text", "place"),
    [("wrist was sore, 6/10", "wrist"), ("hamstring pain 6, ok", "hamstring"), ("my hip hurt, 7", "hip")],
)
def test_the_check_in_reader_finds_each_place_that_can_be_spared(content, text, place):
    assert read_feedback(text, content.feedback).location == place


def test_a_place_naming_an_unknown_demand_is_refused_at_load():
    with pytest.raises(ValidationError, match="unknown demand"):
        SparedPlace.model_validate({"demands": ["elbow_bend"]})


def test_a_place_to_spare_the_reader_cannot_find_is_a_content_problem(content):
    rules = content.progression.model_copy(
        update={"spare_places": {**content.progression.spare_places, "elbow": SparedPlace(demands=["floor"])}}
    )
    problems = cross_check(content.model_copy(update={"progression": rules}))
    assert any(p.field == "spare_places.elbow" for p in problems)


# ---- kettlebell load ----


def test_at_the_top_dose_of_a_kettlebell_rung_the_next_step_is_the_next_bell_at_the_base_dose(content):
    decision = decide(good_run("kettlebell_deadlift"), "kettlebell_deadlift", BELL, NOW, content, TOP)
    assert (decision.kind, decision.reason, decision.level, decision.load) == (
        "progress",
        "progress_load",
        0,
        1,
    )
    assert "2-4 kg heavier" in content.text("progress_load", **_told(decision))


def test_without_a_kettlebell_of_their_own_the_rung_changes_instead(content):
    dumbbells = {**CAN_KNEEL, "equipment": ["dumbbells"]}
    decision = decide(good_run("kettlebell_deadlift"), "kettlebell_deadlift", dumbbells, NOW, content, TOP)
    assert decision.reason == "progress_good" and decision.exercise == "romanian_deadlift"


def test_after_the_most_bells_the_rung_changes(content):
    history = good_run("kettlebell_deadlift", load=MOST_BELLS)
    decision = decide(history, "kettlebell_deadlift", BELL, NOW, content, TOP, MOST_BELLS)
    assert decision.exercise == "romanian_deadlift"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"pain": 6}, "simplify_pain_load"),
        ({"control": "lost"}, "simplify_control_load"),
        ({"effort": "hard"}, "ease_effort_load"),
        ({"morning": "worse"}, "simplify_mornings_load"),
    ],
)
def test_too_much_on_a_heavier_bell_takes_the_bell_away_first(content, fields, reason):
    latest = {**session("romanian_deadlift"), "level": 1, "load": 1, **fields}
    decision = decide([latest], "romanian_deadlift", BELL, NOW, content, 1, 1)
    assert (decision.kind, decision.reason, decision.level, decision.load) == ("simplify", reason, 1, 0)


def test_sessions_with_another_bell_do_not_count_towards_the_next_step(content):
    history = [*good_run("romanian_deadlift", level=0, load=0), {**session("romanian_deadlift"), "load": 1}]
    assert len(since_last_change(history, "romanian_deadlift", 0, 1)) == 1


def test_the_card_says_how_to_choose_a_first_bell_and_how_many_bells_up_the_user_is(content):
    deadlift = content.exercises["kettlebell_deadlift"]
    assert "Many women start with 8-12 kg and many men with 12-16 kg" in guidance(deadlift, 0, BELL, content)
    assert "the next bell up" in guidance(deadlift, 1, BELL, content)
    assert "2 bells up" in guidance(deadlift, 2, BELL, content)
    assert guidance(deadlift, 0, {**BELL, "equipment": ["dumbbells"]}, content) == ""


def _told(decision):
    return {"exercise": "X", "previous": "Y", "dose": "Z", "count": 2, **decision.params}
