from hipcoach.flows import Choice, Unsupported
from hipcoach.flows.values import ClearScreening
from tests.chat import EngineChat


def in_screening(content) -> EngineChat:
    chat = EngineChat(content)
    chat.send("hi")
    chat.press("consent:yes")
    chat.press("red_flags_urgent:no")
    chat.press("red_flags_clinician:no")
    return chat


def test_start_on_a_new_chat_begins_with_welcome_disclaimer_and_consent(content):
    chat = EngineChat(content)
    chat.send("/start")
    assert "not a clinician" in chat.text
    assert chat.state.name == "consent"


def test_start_in_the_middle_resumes_with_the_current_question(content):
    chat = in_screening(content)
    chat.send("/start")
    assert chat.state.name == "load_pain"
    assert chat.last[0].text.startswith("Welcome back")
    assert chat.last[-1].buttons == ((("Yes", "load_pain:yes"), ("No", "load_pain:no")),)


def test_help_answers_and_then_repeats_the_current_question(content):
    chat = in_screening(content)
    chat.send("/help")
    assert "/restart" in chat.last[0].text
    assert chat.state.name == "load_pain"
    assert chat.last[-1].buttons


def test_restart_asks_for_confirmation_before_forgetting_anything(content):
    chat = EngineChat(content)
    chat.screen(load_pain=True, kneeling_ok=True, knee_issues=False)
    chat.send("/restart")
    assert chat.state.name == "session"
    assert chat.last[-1].buttons == ((("Yes, start over", "restart:yes"), ("No, keep going", "restart:no")),)

    chat.press("restart:no")
    assert chat.state.name == "session"
    assert chat.state.data["position"]["exercise"] == "four_point_rock_back"


def test_confirmed_restart_clears_the_screening_and_asks_the_red_flags_again(content):
    chat = EngineChat(content)
    chat.screen(load_pain=True, kneeling_ok=True, knee_issues=False)
    chat.send("/restart")
    chat.send("yes")
    assert chat.state.name == "red_flags_urgent"
    assert "answers" not in chat.state.data and "position" not in chat.state.data
    assert ClearScreening() in chat.effects


def test_restart_after_an_urgent_stop_asks_about_an_assessment_before_screening_again(content):
    chat = in_screening(content)
    chat.send("/restart")
    chat.press("restart:yes")
    chat.press("red_flags_urgent:yes")
    assert chat.state.name == "urgent_stop"
    chat.send("/restart")
    assert chat.state.name == "urgent_stop"
    chat.press("urgent_stop:assessed")
    assert chat.state.name == "red_flags_urgent"


def test_a_programme_command_during_screening_keeps_the_place(content):
    chat = in_screening(content)
    chat.send("/progress")
    assert "finish the questions first" in chat.last[0].text
    assert chat.state.name == "load_pain"


def test_an_unknown_command_is_named_and_the_question_repeated(content):
    chat = in_screening(content)
    chat.send("/dance")
    assert "/dance" in chat.last[0].text
    assert chat.last[-1].buttons


def test_a_button_from_an_earlier_question_has_moved_on_and_changes_nothing(content):
    chat = in_screening(content)
    before = chat.state
    chat.send(Choice("consent:no"))
    assert chat.state == before
    assert "moved on" in chat.last[0].text
    assert chat.effects[-1].question == "red_flags_clinician"


def test_a_forged_button_value_is_not_understood_and_changes_nothing(content):
    chat = in_screening(content)
    before = chat.state
    chat.send(Choice("load_pain:maybe"))
    assert chat.state == before
    chat.send(Choice("x" * 60))
    assert chat.state == before


def test_a_sticker_gets_a_kind_reply_and_the_question_again(content):
    chat = in_screening(content)
    chat.send(Unsupported("sticker"))
    assert "only read text" in chat.last[0].text
    assert chat.last[-1].buttons


def test_a_huge_message_is_answered_without_losing_the_place(content):
    chat = in_screening(content)
    chat.send("blah " * 5000)
    assert chat.state.name == "load_pain"
    assert "didn't catch that" in chat.last[0].text


def test_a_state_from_an_older_version_starts_the_user_cleanly(content):
    from hipcoach.flows import State

    chat = EngineChat(content, state=State("vanished_state", {"x": 1}))
    chat.send("hello")
    assert chat.state.name == "consent"
