"""What the bot told a user it saved is on disk first; a redelivered update changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hipcoach.bot.storage.models import Outbox
from hipcoach.flows import Choice
from tests.fakes import CollectingSender, dispatcher_for
from tests.telegram.offline_chat import USER_ID

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_a_redelivered_update_changes_nothing_and_is_not_answered_twice(offline_bot):
    chat = offline_bot.chat
    await chat.send("/start")
    chat.update_ids = iter([77, 77])  # Telegram sends update 77 again, e.g. after a webhook timeout
    first = await chat.press("consent:yes")
    state = await offline_bot.storage.load_state(USER_ID)
    again = await chat.press("consent:yes", on=chat.seen[-len(first) - 1])
    assert first and again == []
    assert await offline_bot.storage.load_state(USER_ID) == state


async def test_replies_are_committed_with_the_turn_and_marked_sent_after_delivery(offline_bot):
    await offline_bot.chat.send("/start")
    async with offline_bot.storage.sessions() as session:
        statuses = (await session.scalars(select(Outbox.status))).all()
    assert statuses == ["sent"]


async def test_replies_lost_in_a_crash_between_commit_and_send_go_out_after_the_claim_lapses(offline_bot):
    coach = offline_bot.coach
    await coach.turn(USER_ID, Choice("new:start"), update_id=5)  # committed; then a crash
    sender = CollectingSender()
    dispatcher = dispatcher_for(coach, sender)
    assert await dispatcher.run_due() == 0  # still claimed by the process that died
    offline_bot.clock.advance(offline_bot.storage.outbox.lease + timedelta(seconds=1))
    assert await dispatcher.flush() == 1
    assert "Hip Coach" in sender.sent[USER_ID][0].text
    assert await dispatcher.flush() == 0
