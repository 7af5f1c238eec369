"""Random users never break the engine: every turn leaves a valid state and offers a way forward."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import Choice, Command, State, Text, Unsupported, render_all, step
from flows.onboarding import STATES
from flows.screens import SCREENS
from tests.conftest import NOW

BUTTON_VALUES = [f"{state}:{answer}" for state, screen in SCREENS.items() for answer, _ in screen.answers] + [
    "equipment:kettlebell",
    "equipment:none",
    "equipment:done",
    "restart:yes",
    "restart:no",
    "new:start",
]
WORDS = ["yes", "no", "yeah", "nope", "done", "none", "kettlebell", "my knees are bad", "cleared", "numbness"]

events = st.one_of(
    st.sampled_from(BUTTON_VALUES).map(Choice),
    st.text(max_size=40).map(Choice),
    st.sampled_from(WORDS).map(Text),
    st.text(max_size=200).map(Text),
    st.sampled_from(["start", "help", "restart", "today", "delete", "nonsense", "START"]).map(Command),
    st.sampled_from(["sticker", "photo", "voice"]).map(Unsupported),
)


def offers_a_way_forward(messages) -> bool:
    last = messages[-1]
    return bool(last.buttons) or "/" in last.text


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(events, min_size=1, max_size=30))
def test_random_event_sequences_never_raise_and_always_offer_a_way_forward(content, sequence):
    state = State()
    for event in sequence:
        outcome = step(state, event, NOW, content)
        messages = render_all(outcome.replies, content)
        assert outcome.state.name in STATES
        assert messages, f"no reply to {event!r} in {state.name}"
        assert offers_a_way_forward(messages), f"dead end after {event!r} in {state.name}"
        assert all(len(m.text) <= 4096 for m in messages)
        assert all(len(v.encode()) <= 64 for m in messages for row in m.buttons for _, v in row)
        json.dumps(outcome.state.to_json())  # state stays plain data
        state = State.from_json(json.loads(json.dumps(outcome.state.to_json())))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(events, max_size=30))
def test_no_user_reaches_a_rung_without_passing_both_red_flag_questions(content, sequence):
    state = State()
    for event in sequence:
        outcome = step(state, event, NOW, content)
        state = outcome.state
        if state.name in ("session", "rest"):
            answers = state.data["answers"]
            assert answers["red_flags_urgent"] is False
            assert "red_flags_clinician" in answers
            assert state.data.get("red_flag") != "urgent"


def test_the_engine_never_keeps_the_input_state_object_it_was_given(content):
    state = State("consent", {"answers": {}})
    step(state, Choice("consent:yes"), NOW, content)
    assert state.data == {"answers": {}}
