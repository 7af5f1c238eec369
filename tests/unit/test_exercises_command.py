"""/exercises: the user's ladder with a button per exercise, and each button shows that exercise moving."""

from tests.chat import EngineChat


def trained(content) -> EngineChat:
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=False, knee_issues=True)
    return chat


def test_exercises_lists_every_rung_of_the_users_ladder_with_a_button_each(content):
    chat = trained(content)
    ladder = content.ladders[chat.state.data["position"]["ladder"]]
    chat.send("/exercises")
    listing = chat.last[0]
    assert ladder.name in listing.text
    assert [row[0][1] for row in listing.buttons] == [f"show:{rung}" for rung in ladder.rungs]
    current = content.exercises[chat.state.data["position"]["exercise"]].name
    assert any(current in label and "your level now" in label for ((label, _),) in listing.buttons)


def test_a_button_shows_that_exercise_as_an_animation_and_the_coach_returns_to_the_open_question(content):
    chat = trained(content)
    before = chat.state.name
    chat.press("show:romanian_deadlift")
    shown = chat.last[0]
    assert shown.attachment == "animation:romanian_deadlift"
    assert "Romanian deadlift" in shown.text and "3-1-2" in shown.text
    assert chat.state.name == before
    assert chat.last[-1].buttons  # the open question again


def test_the_exercise_card_has_a_button_to_see_the_movement(content):
    chat = trained(content)
    exercise = chat.state.data["position"]["exercise"]
    assert chat.state.name == "session"
    assert chat.last[-1].buttons[-1] == (("▶ See the movement", f"show:{exercise}"),)


def test_before_screening_is_done_there_is_no_ladder_to_show(content):
    chat = EngineChat(content)
    chat.send("hello")
    chat.press("consent:yes")
    chat.send("/exercises")
    assert chat.last[0].text == content.message("finish_screening_first").strip()
    assert not any(m.attachment for m in chat.last)


def test_a_button_for_an_exercise_no_longer_in_content_shows_the_list_instead(content):
    chat = trained(content)
    chat.press("show:moonwalk")
    assert chat.last[0].buttons and chat.last[0].attachment is None
