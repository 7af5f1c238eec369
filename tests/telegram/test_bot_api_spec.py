"""The checker the offline tests rely on catches what the official reference forbids."""

from __future__ import annotations

import pytest

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "consent:yes"}]]}


def test_a_well_formed_message_passes(bot_api_spec):
    call = {"chat_id": 1, "text": "Hi", "parse_mode": "HTML", "reply_markup": KEYBOARD}
    assert bot_api_spec.check_call("sendMessage", call) == []


@pytest.mark.parametrize(
    ("method", "params", "problem"),
    [
        ("sendMesage", {"chat_id": 1, "text": "Hi"}, "no such method"),
        ("sendMessage", {"chat_id": 1}, "sendMessage.text: required field missing"),
        ("sendMessage", {"chat_id": 1, "text": "Hi", "colour": "red"}, "sendMessage.colour: unknown field"),
        ("sendMessage", {"chat_id": 1, "text": ""}, "0 characters, documented 1-4096"),
        ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, "4097 characters, documented 1-4096"),
        ("sendMessage", {"chat_id": 1.5, "text": "Hi"}, "expected"),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "Hi",
                "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "é" * 33}]]},
            },
            "66 bytes, documented 1-64",
        ),
        ("setMyCommands", {"commands": [{"command": "start"}]}, "description: required field missing"),
    ],
)
def test_a_call_against_the_reference_is_reported(bot_api_spec, method, params, problem):
    problems = bot_api_spec.check_call(method, params)
    assert any(problem in p for p in problems), problems


def test_form_encoded_calls_from_the_emulator_are_decoded_before_checking(bot_api_spec):
    call = {
        "chat_id": "1",
        "text": "Hi",
        "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": ""}]]}',
    }
    problems = bot_api_spec.check_call("sendMessage", call, form_encoded=True)
    assert any("0 bytes, documented 1-64" in p for p in problems), problems
