import itertools

import pytest

from hipcoach.flows.starting import can_kneel, choose_start
from hipcoach.flows.values import SetPosition
from tests.chat import EngineChat

# The table from the product issue, written out independently of content/ so the two must agree.
EXPECTED = {
    (True, True): "four_point_rock_back",
    (True, False): "glute_bridge",
    (False, True): "kneeling_hip_thrust",
    (False, False): "glute_bridge",
}


@pytest.mark.parametrize(
    ("load_pain", "kneeling_ok", "knee_issues"), list(itertools.product([True, False], repeat=3))
)
def test_every_screening_profile_starts_on_the_rung_the_table_names(
    content, load_pain, kneeling_ok, knee_issues
):
    answers = {"load_pain": load_pain, "kneeling_ok": kneeling_ok, "knee_issues": knee_issues}
    expected = EXPECTED[(load_pain, kneeling_ok and not knee_issues)]

    assert choose_start(answers, content.starting_point).start == expected

    chat = EngineChat(content)
    chat.screen(load_pain, kneeling_ok, knee_issues)
    positions = [e for e in chat.effects if isinstance(e, SetPosition)]
    assert [p.exercise for p in positions] == [expected]
    assert chat.state.name == "session"
    assert content.exercises[expected].name in chat.text


def test_a_start_that_rules_out_kneeling_never_needs_kneeling(content):
    for rule in content.starting_point.table:
        if not rule.can_kneel:
            assert not content.exercises[rule.start].demands.kneeling


def test_knee_issues_rule_out_kneeling_even_when_kneeling_feels_fine():
    assert not can_kneel({"kneeling_ok": True, "knee_issues": True})
    assert can_kneel({"kneeling_ok": True, "knee_issues": False})
    assert not can_kneel({"kneeling_ok": False, "knee_issues": False})


def test_the_start_is_explained_in_one_sentence_that_names_the_reason(content):
    chat = EngineChat(content)
    chat.screen(load_pain=True, kneeling_ok=False, knee_issues=False)
    reason = chat.last[-3].text
    assert "worse under load" in reason
    assert "Glute bridge" in reason or "glute bridge" in reason.lower()


def test_the_first_exercise_card_shows_why_setup_steps_cues_and_dose_with_done_not_now_and_movement_buttons(
    content,
):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    card = chat.last[-1]
    exercise = content.exercises["kneeling_hip_thrust"]
    for part in (exercise.why, exercise.setup, exercise.steps[0], exercise.cues[0]):
        assert part in card.text
    assert f"{exercise.dose.sets} sets" in card.text
    assert card.buttons[0] == (("Done", "session:done"), ("Not now", "session:later"))
    assert card.buttons[1] == (("▶ See the movement", "show:kneeling_hip_thrust"),)


def test_the_first_card_of_an_exercise_comes_with_its_animation_and_later_cards_do_not(content):
    chat = EngineChat(content)
    chat.screen(load_pain=True, kneeling_ok=False, knee_issues=False)
    assert chat.last[-2].attachment == "animation:glute_bridge"
    chat.send("/today")
    assert not any(message.attachment for message in chat.last)
    assert chat.last[-1].buttons[-1][0][1] == "show:glute_bridge"
    chat.send("See the movement")
    assert any(message.attachment == "animation:glute_bridge" for message in chat.last)
