"""The exercise card says what a counted tempo means, from the tempo itself, in words from content."""

from __future__ import annotations

from hipcoach.flows.cards import card_params, dose_text, tempo_text


def said(content, tempo: str, down: str, hold: str, up: str) -> str:
    return content.text("tempo_counted", tempo=tempo, down=down, hold=hold, up=up)


def test_a_2_1_2_tempo_on_the_card_says_seconds_down_hold_and_up(content):
    bridge = content.exercises["glute_bridge"]
    assert bridge.dose.tempo == "2-1-2"
    card = content.text("exercise_card", **card_params(bridge, content))
    assert said(content, "2-1-2", "2", "1", "2") in card


def test_the_seconds_are_read_from_the_tempo_not_assumed(content):
    deadlift = content.exercises["romanian_deadlift"]
    assert said(content, "3-1-2", "3", "1", "2") in dose_text(deadlift.dose, content)
    assert tempo_text(" 4-2-1.5 ", content) == said(content, "4-2-1.5", "4", "2", "1.5")


def test_a_tempo_without_a_pause_says_no_hold(content):
    expected = content.text("tempo_counted_no_hold", tempo="3-0-1", down="3", up="1")
    assert tempo_text("3-0-1", content) == expected


def test_a_tempo_in_words_is_shown_as_it_is(content):
    rock_back = content.exercises["four_point_rock_back"]
    assert tempo_text(rock_back.dose.tempo, content) == "slow and controlled"
    assert "tempo slow and controlled;" in dose_text(rock_back.dose, content)


def test_the_words_of_the_explanation_come_from_content(content):
    messages = {**content.messages["en"], "tempo_counted": "{tempo}: {down} / {hold} / {up} Zqx"}
    changed = content.model_copy(update={"messages": {"en": messages}})
    assert tempo_text("2-1-2", changed) == "2-1-2: 2 / 1 / 2 Zqx"
