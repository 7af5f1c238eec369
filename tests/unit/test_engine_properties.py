"""Random users never break the engine: every turn leaves a valid state and offers a way forward."""

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipcoach.flows import Choice, Command, Context, Due, State, Text, Unsupported, render_all, step
from hipcoach.flows.machine import STATES
from hipcoach.flows.screens import SCREENS
from tests.conftest import NOW

BUTTON_VALUES = [f"{state}:{answer}" for state, screen in SCREENS.items() for answer, _ in screen.answers] + [
    "equipment:kettlebell",
    "equipment:none",
    "equipment:done",
    "restart:yes",
    "restart:no",
    "new:start",
]
WORDS = [
    "yes", "no", "yeah", "nope", "done", "none", "kettlebell", "my knees are bad", "cleared", "numbness",
    "easy, no pain", "back hurt about 6/10", "wobbly", "lost form", "mon wed fri", "6pm", "London", "worse",
    "numbness in my groin", "better",
]  # fmt: skip

COMMANDS = [
    "start", "help", "restart", "today", "checkin", "schedule", "pause", "resume", "delete", "nonsense",
    "progress", "export", "coach", "stats",
]  # fmt: skip
events = st.one_of(
    st.sampled_from(BUTTON_VALUES).map(Choice),
    st.text(max_size=40).map(Choice),
    st.sampled_from(WORDS).map(Text),
    st.text(max_size=200).map(Text),
    st.sampled_from(COMMANDS).map(Command),
    st.builds(
        Due,
        kind=st.sampled_from(["session", "snooze", "morning"]),
        prompt_id=st.integers(1, 10),
        due_at=st.integers(0, 600).map(lambda minutes: NOW - timedelta(minutes=minutes)),
    ),
    st.sampled_from(["sticker", "photo", "voice"]).map(Unsupported),
)


contexts = st.builds(
    Context, coach_available=st.booleans(), is_admin=st.booleans(), handle=st.sampled_from([None, "@sam"])
)


def offers_a_way_forward(messages) -> bool:
    last = messages[-1]
    return bool(last.buttons) or "/" in last.text


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(events, min_size=1, max_size=30), contexts)
def test_random_event_sequences_never_raise_and_always_offer_a_way_forward(content, sequence, context):
    state = State()
    for event in sequence:
        outcome = step(state, event, NOW, content, context)
        messages = render_all(outcome.replies, content)
        assert outcome.state.name in STATES
        if isinstance(event, Due):
            state = outcome.state  # a prompt may pass quietly; a user's message never does
            continue
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
        if "position" in state.data and state.name != "urgent_stop":
            answers = state.data["answers"]
            assert answers["red_flags_urgent"] is False
            assert "red_flags_clinician" in answers
            assert state.data.get("red_flag") != "urgent"


def test_the_engine_never_keeps_the_input_state_object_it_was_given(content):
    state = State("consent", {"answers": {}})
    step(state, Choice("consent:yes"), NOW, content)
    assert state.data == {"answers": {}}
