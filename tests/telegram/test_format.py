"""Messages become Telegram messages: escaped HTML, split within the limit at word breaks, keyboards."""

from __future__ import annotations

import html
from collections import deque
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipcoach.bot.bootstrap import load_content
from hipcoach.bot.telegram.format import MAX_TEXT, keyboard, outgoing, split_text, to_html
from hipcoach.content.schema import Content
from hipcoach.flows import Choice, Command, Message, State, render_all, step

words = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1, max_size=12)
separators = st.sampled_from([" ", "\n", "\n\n", "  "])
prose = st.lists(st.tuples(words, separators), max_size=300).map(
    lambda parts: "".join(w + s for w, s in parts)
)


@given(prose, st.integers(min_value=60, max_value=400))
def test_pieces_fit_the_limit_once_escaped_and_no_word_is_cut(text, limit):
    pieces = split_text(text, limit)
    assert all(0 < len(to_html(piece)) <= limit for piece in pieces)
    assert [w for piece in pieces for w in piece.split()] == text.split()


def test_a_short_message_is_one_piece():
    assert split_text("  Hello there.\n") == ["Hello there."]


def test_a_long_message_is_cut_at_a_paragraph_break_when_one_is_near():
    first, second = "a " * 1500, "b " * 1500
    assert split_text(f"{first}\n\n{second}") == [first.strip(), second.strip()]


def test_a_word_longer_than_a_message_is_the_only_thing_cut():
    assert split_text("x" * (MAX_TEXT + 10)) == ["x" * MAX_TEXT, "x" * 10]


def test_the_keyboard_goes_under_the_last_piece_only():
    pieces = outgoing(Message("word " * 2000, ((("Done", "session:done"),),)))
    assert [markup is not None for _, markup in pieces] == [False, False, True]
    assert pieces[-1][1].inline_keyboard[0][0].callback_data == "session:done"


def test_text_is_escaped_for_telegram_html():
    assert to_html("a < b & c > d 'e'") == "a &lt; b &amp; c &gt; d 'e'"
    assert html.unescape(to_html("<b>")) == "<b>"


def test_callback_data_over_64_bytes_is_refused():
    with pytest.raises(ValueError, match="1-64 bytes"):
        keyboard(((("Too long", "q:" + "é" * 32),),))


def every_button_value(content: Content, limit: int = 2000) -> set[str]:
    """Every button the coach can show, found by pressing each button of each screen from /start on."""
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    queue, screens, values = deque([step(State(), Command("start"), now, content)]), set(), set()
    while queue and len(screens) < limit:
        outcome = queue.popleft()
        pressable = [value for message in render_all(outcome.replies, content) for value in _values(message)]
        screen = (outcome.state.name, tuple(sorted(pressable)))
        if screen in screens:
            continue
        screens.add(screen)
        values.update(pressable)
        queue.extend(step(outcome.state, Choice(value), now, content) for value in pressable)
    return values


def _values(message: Message) -> list[str]:
    return [value for row in message.buttons for _, value in row]


def test_every_button_the_coach_shows_fits_telegram_callback_data():
    values = every_button_value(load_content())
    assert len(values) > 10
    assert [value for value in values if not 1 <= len(value.encode()) <= 64] == []
