"""The dispatcher's senders: a slow user's delivery holds up no one else's; each user's rows go in order.

The slow user's send is held on an event the test lets go; nothing waits on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import func, select

from hipcoach.bot.storage.models import Outbox
from hipcoach.bot.storage.outbox import Progress, Untracked
from hipcoach.bot.storage.sql import SqlStorage
from hipcoach.flows import Message
from tests.fakes import dispatcher_for, sql_coach
from tests.integration.test_dispatcher import MONDAY_MORNING, Clock

SLOW = 501
OTHERS = [601, 602, 603, 604, 605]
GUARD = 10.0  # seconds: only a hang ever reaches it


class HeldSender:
    """Delivers at once, except the slow user's first row, held until the test lets it go."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.slow_began, self.slow_over = asyncio.Event(), asyncio.Event()
        self.others_done = asyncio.Event()

    async def send(self, user_id: int, messages: Sequence[Message], progress: Progress | None = None) -> None:
        progress = progress or Untracked()
        if user_id == SLOW and not any(user == SLOW for user, _ in self.sent):
            self.slow_began.set()
            await self.slow_over.wait()
        for part in range(progress.first, len(messages)):
            await progress.sending(part)
            self.sent.append((user_id, messages[part].text))
        if {user for user, _ in self.sent} >= set(OTHERS):
            self.others_done.set()


async def queue(storage: SqlStorage, user_id: int, text: str) -> None:
    """A committed outbox row for the dispatcher, as a prompt's turn leaves it."""
    async with storage.unit_of_work(MONDAY_MORNING) as work:
        await work.open_user(user_id)
        await work.queue(user_id, [Message(text).to_json()], claimed=False)
        await work.commit()


async def pending(storage: SqlStorage) -> int:
    async with storage.sessions() as session:
        return await session.scalar(select(func.count()).where(Outbox.status != "sent"))


async def test_one_slow_users_delivery_does_not_hold_up_the_others(storage, content):
    await queue(storage, SLOW, "slow first")
    for user in OTHERS:
        await queue(storage, user, f"to {user}")
    await queue(storage, SLOW, "slow second")
    sender = HeldSender()
    dispatcher = dispatcher_for(sql_coach(storage, content, Clock(MONDAY_MORNING)), sender)
    flushing = asyncio.create_task(dispatcher.flush())
    try:
        await asyncio.wait_for(sender.slow_began.wait(), GUARD)
        await asyncio.wait_for(sender.others_done.wait(), GUARD)  # while the slow user's row is in hand
        assert sorted(sender.sent) == sorted((user, f"to {user}") for user in OTHERS)
    finally:
        sender.slow_over.set()
        delivered = await asyncio.wait_for(flushing, GUARD)
    assert delivered == len(OTHERS) + 2
    assert [text for user, text in sender.sent if user == SLOW] == ["slow first", "slow second"]
    assert await pending(storage) == 0
    assert len(dispatcher.order) == 0, "no user's place in line is kept once their rows are sent"


async def test_a_users_rows_go_one_after_another_even_with_senders_free(storage, content):
    for n in range(5):
        await queue(storage, SLOW, f"row {n}")
    sender = HeldSender()
    dispatcher = dispatcher_for(sql_coach(storage, content, Clock(MONDAY_MORNING)), sender, senders=8)
    flushing = asyncio.create_task(dispatcher.flush())
    try:
        await asyncio.wait_for(sender.slow_began.wait(), GUARD)
    finally:
        sender.slow_over.set()
        await asyncio.wait_for(flushing, GUARD)
    assert sender.sent == [(SLOW, f"row {n}") for n in range(5)]
