"""Through Telegram: a redelivered "delete: yes" changes nothing; a new update starts over."""

from __future__ import annotations

import itertools

import pytest

from tests.telegram.offline_chat import USER_ID

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

DELETING_UPDATE = 5000


async def stored(bot) -> dict[str, list]:
    return {table: rows for table, rows in (await bot.reports.rows_about(USER_ID)).items() if rows}


async def test_a_redelivered_delete_yes_changes_nothing_and_says_nothing(offline_bot):
    chat, api = offline_bot.chat, offline_bot.api
    await chat.send("/start")
    await chat.press("consent:yes")
    await chat.send("/delete")
    chat.update_ids = itertools.repeat(DELETING_UPDATE)  # the same update, delivered twice
    [farewell] = await chat.press("delete:yes")
    assert farewell.text.startswith("Done: everything I stored about you has been deleted")
    assert await stored(offline_bot) == {}
    sends = len(api.of("sendMessage"))

    assert await chat.press("delete:yes") == []  # Telegram redelivers it (no answer reached it)

    assert await stored(offline_bot) == {}  # no user, state, processed update or outbox row again
    assert len(api.of("sendMessage")) == sends


async def test_a_new_update_after_the_deletion_starts_a_new_user(offline_bot):
    chat = offline_bot.chat
    await chat.send("/start")
    await chat.press("consent:yes")
    await chat.send("/delete")
    await chat.press("delete:yes")
    replies = await chat.send("/start")
    assert "Hip Coach" in replies[0].text
    assert [user["consented_at"] for user in (await stored(offline_bot))["users"]] == [None]
