"""Only ASCII digits become numbers: '²' passes str.isdigit() but int() refuses it (issue 15)."""

from __future__ import annotations

import pytest

from hipcoach.bot.text_input import button_number, parse_input
from hipcoach.flows import Choice, Reply, Text, render
from tests.chat import EngineChat

SCREENING = ["consent:yes", "red_flags_urgent:no", "red_flags_clinician:no", "load_pain:no",
             "kneeling_ok:yes", "knee_issues:no", "equipment:none"]  # fmt: skip
TO_CHECK_IN = [*SCREENING, "goal_activity:0", "goal_rating:6", "session:done"]
TO_SUMMARY_DAY = ["schedule_days:mon_wed_fri", "schedule_time:1800", "schedule_zone:utc"]
FORGED = ["²", "³", "٣", "1²"]  # a superscript, an Arabic-Indic three, a number with a superscript


def reach(content, presses: list[str], text: str | None = None, more: tuple[str, ...] = ()) -> EngineChat:
    chat = EngineChat(content)
    chat.send("hello")
    for value in presses:
        chat.press(value)
    if text is not None:
        chat.send(text)
    for value in more:
        chat.press(value)
    return chat


def chats(content) -> dict[str, EngineChat]:
    """A user waiting at each question whose buttons carry a number."""
    return {
        "goal_activity": reach(content, SCREENING),
        "goal_rating": reach(content, [*SCREENING, "goal_activity:0"]),
        "checkin_pain": reach(content, TO_CHECK_IN),
        "schedule_summary_day": reach(content, TO_CHECK_IN, "no pain, easy, smooth", tuple(TO_SUMMARY_DAY)),
    }


@pytest.mark.parametrize("forged", FORGED)
@pytest.mark.parametrize("question", ["goal_activity", "goal_rating", "checkin_pain", "schedule_summary_day"])
def test_a_forged_button_with_a_unicode_digit_gets_a_kind_re_ask(content, question, forged):
    chat = chats(content)[question]
    assert chat.state.name == question
    before = chat.state
    chat.press(f"{question}:{forged}")
    assert chat.state == before
    assert chat.last[0].text == render(Reply("not_understood"), content).text
    assert chat.last[-1].buttons  # the question again, with its buttons


def test_a_real_button_number_is_still_read(content):
    chat = chats(content)["checkin_pain"]
    chat.press("checkin_pain:2")
    assert chat.state.name == "checkin_effort"
    assert chat.state.data["checkin"]["pain"] == 2


BUTTONS = [("Yes", "consent:yes"), ("No", "consent:no")]


@pytest.mark.parametrize("line", ["²", "1²", "٣", "9" * 5000, "0", "3"])
def test_the_terminal_reads_a_line_that_is_no_button_number_as_text(line):
    assert parse_input(line, BUTTONS, numbered=True) == Text(line)


def test_the_terminal_presses_the_button_a_typed_ascii_number_names():
    assert parse_input("2", BUTTONS, numbered=True) == Choice("consent:no")
    assert [button_number(line, 12) for line in ("1", "12", "012", "13", "²")] == [1, 12, None, None, None]
