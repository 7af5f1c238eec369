import pytest

from hipcoach.flows.understand import read_equipment, read_question
from tests.chat import EngineChat


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        ("kneeling_ok", "yeah", True),
        ("kneeling_ok", "Yep, no problem", True),
        ("kneeling_ok", "nope", False),
        ("kneeling_ok", "not really", False),
        ("kneeling_ok", "my knees are bad", False),
        ("kneeling_ok", "I can't kneel", False),
        ("kneeling_ok", "I can’t kneel", False),
        ("knee_issues", "my knees are bad", True),
        ("knee_issues", "no, my knees are fine", False),
        ("load_pain", "yes, lifting hurts", True),
        ("load_pain", "no difference really", False),
        ("red_flags_urgent", "I have some numbness down there", True),
        ("red_flags_urgent", "I don't have any numbness", False),
        ("red_flags_clinician", "none of these", False),
        ("consent", "sure, go ahead", True),
        ("consent", "no thanks", False),
    ],
)
def test_free_text_answers_are_read_like_a_person_would(content, question, text, expected):
    assert read_question(text, question, content.screening) is expected


@pytest.mark.parametrize("text", ["", "banana", "maybe?", "yes and no"])
def test_text_that_does_not_answer_is_not_guessed(content, text):
    assert read_question(text, "load_pain", content.screening) is None


def test_equipment_can_be_typed_as_a_list(content):
    assert read_equipment("a kettlebell and a resistance band", content.screening) == [
        "kettlebell",
        "band_cable",
    ]
    assert read_equipment("nothing at all", content.screening) == []
    assert read_equipment("a unicorn", content.screening) is None


def test_a_typed_button_label_counts_as_pressing_it(content):
    chat = EngineChat(content)
    chat.send("hi")
    chat.send("Yes, that's okay")
    assert chat.state.name == "red_flags_urgent"
    chat.send("none of these")
    assert chat.state.name == "red_flags_clinician"


def test_equipment_buttons_toggle_and_done_records_the_selection(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    answers = chat.state.data["answers"]
    assert answers["equipment"] == []

    chat = EngineChat(content)
    for step in ("hi", "yes", "no", "no", "no", "yes", "no"):
        chat.send(step)
    chat.press("equipment:kettlebell")
    chat.press("equipment:dowel")
    chat.press("equipment:dowel")
    assert ("✓ Kettlebell", "equipment:kettlebell") in [b for m in chat.last for r in m.buttons for b in r]
    chat.press("equipment:done")
    assert chat.state.data["answers"]["equipment"] == ["kettlebell"]
    assert "Noted: Kettlebell." in chat.text
