"""One script of user inputs gives the same messages in the terminal chat and in Telegram."""

from __future__ import annotations

import pytest

from tests.telegram.script import onboarding, terminal_transcript

pytestmark = pytest.mark.e2e


async def test_onboarding_reads_the_same_in_telegram_as_in_the_terminal_chat(offline_bot, tmp_path):
    expected = terminal_transcript(onboarding(), tmp_path)
    turns = await offline_bot.chat.play(onboarding())
    assert [[seen.shown for seen in turn] for turn in turns] == expected
