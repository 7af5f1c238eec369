from hipcoach.flows.values import ForgetUser, RecordAnswer, RecordConsent, RecordRedFlag, SetPosition
from tests.chat import EngineChat


def start_screening(content) -> EngineChat:
    chat = EngineChat(content)
    chat.send("hello")
    chat.press("consent:yes")
    return chat


def test_an_urgent_red_flag_sends_the_user_to_urgent_care_and_blocks_the_programme(content):
    chat = start_screening(content)
    chat.press("red_flags_urgent:yes")

    assert chat.state.name == "urgent_stop"
    assert "urgent medical help" in chat.text
    assert RecordRedFlag("urgent", (), "red_flags_urgent") in chat.effects
    assert chat.last[-1].buttons == ((("A clinician has assessed me", "urgent_stop:assessed"),),)
    assert "/help" in chat.last[-1].text


def test_after_an_urgent_red_flag_nothing_but_the_urgent_message_is_offered(content):
    chat = start_screening(content)
    chat.press("red_flags_urgent:yes")
    for attempt in ("I feel better now", "yes", "load_pain:no"):
        chat.send(attempt)
        assert chat.state.name == "urgent_stop"
        assert "urgent medical help" in chat.last[-1].text
    assert not any(isinstance(e, SetPosition) for e in chat.effects)


def test_help_still_works_after_an_urgent_red_flag(content):
    chat = start_screening(content)
    chat.press("red_flags_urgent:yes")
    chat.send("/help")
    assert "not a clinician" in chat.text
    assert chat.state.name == "urgent_stop"


def test_a_clinician_tier_red_flag_pauses_the_programme_until_clearance(content):
    chat = start_screening(content)
    chat.press("red_flags_urgent:no")
    chat.press("red_flags_clinician:yes")
    assert chat.state.name == "clinician_hold"
    assert "doctor or physiotherapist" in chat.text
    assert RecordRedFlag("clinician", (), "red_flags_clinician") in chat.effects

    chat.press("clinician_hold:no")
    assert chat.state.name == "clinician_hold"

    chat.send("my physio has cleared me")
    assert chat.state.name == "clinician_limits"
    chat.press("clinician_limits:none")
    assert chat.state.name == "load_pain"


def test_red_flag_questions_list_every_sign_from_content(content):
    chat = start_screening(content)
    for tier in content.screening.red_flags:
        if tier.id == "urgent":
            for sign in tier.signs:
                assert sign in chat.text
    chat.press("red_flags_urgent:no")
    clinician = next(t for t in content.screening.red_flags if t.id == "clinician")
    for sign in clinician.signs:
        assert sign in chat.text


def test_a_negated_red_flag_sign_in_free_text_is_read_as_no(content):
    chat = start_screening(content)
    chat.send("no numbness and no bladder problems")
    assert chat.state.name == "red_flags_clinician"


def test_an_unclear_answer_to_a_red_flag_question_is_asked_again_never_assumed(content):
    chat = start_screening(content)
    chat.send("purple elephants")
    assert chat.state.name == "red_flags_urgent"
    assert "didn't catch that" in chat.text


def test_declining_consent_forgets_the_user_and_offers_a_way_back(content):
    chat = EngineChat(content)
    chat.send("hi")
    chat.press("consent:no")
    assert ForgetUser() in chat.effects
    assert chat.state.name == "new" and not chat.state.data
    assert chat.last[-1].buttons

    chat.send("actually, let's go")
    assert chat.state.name == "consent"


def test_consent_is_recorded_before_any_screening_answer(content):
    chat = start_screening(content)
    chat.press("red_flags_urgent:no")
    assert chat.effects[:2] == [RecordConsent(True), RecordAnswer("red_flags_urgent", False)]
