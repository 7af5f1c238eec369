"""Each screen is one value: its question, its keyboard and its reader, all of which exist."""

from typing import get_args

import pytest

from hipcoach.flows.prompts import KEYBOARDS, prompt
from hipcoach.flows.screens import SCREENS, Keyboard
from tests.unit.test_agenda import trained


def test_every_named_keyboard_has_a_builder_and_every_builder_a_name():
    assert set(get_args(Keyboard)) - {"answers"} == set(KEYBOARDS)


@pytest.mark.parametrize("name", sorted(SCREENS))
def test_every_screen_asks_with_its_own_message_and_answerable_buttons(content, name):
    data = {
        **trained(content).state.data,
        "selected": [],
        "draft": {"days": [0], "time": "18:00", "zone": "UTC", "summary_day": 6},
    }
    data["offer"] = {"ladder": "core", "exercise": "bird_dog"}
    data["goal"] = {"activity": "Sitting", "ratings": []}
    asked = prompt(name, data, content, trained(content).now)
    assert asked.key in content.messages["en"]
    values = [button.value for row in asked.buttons for button in row]
    assert all(value.startswith(f"{name}:") or value.startswith("show:") for value in values), values
