"""Which messages in a chat still carry a keyboard that can be pressed, so a new one can retire them.

A chat should offer one set of buttons at a time: the buttons of the question being asked now.
Telegram cannot tell a bot which of its messages still have keyboards, so the sender notes the
ids of the keyboard messages it sent in its latest delivery, and takes those keyboards off before
the next delivery shows new buttons. The ids live on the user's row, so every replica and a
restarted bot know them; chats without a user row (groups, the coach's chat) keep none. An outbox
row's delivery costs no reads or writes of its own for them: its claim reads them once every earlier
row of the user is settled, and its settling mark notes them (bot/storage/outbox.py); the rest go
through `LiveKeyboards`.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import bindparam, select, update

from hipcoach.bot.storage.models import User
from hipcoach.bot.storage.transactions import Transactions


class LiveKeyboards(Protocol):
    """Message ids with a live keyboard, by chat."""

    async def get(self, chat_id: int) -> list[int]: ...
    async def put(self, chat_id: int, message_ids: list[int]) -> None: ...


class MemoryLiveKeyboards:
    """Live keyboards kept for this process only (tests, or a sender without a database)."""

    def __init__(self) -> None:
        self.ids: dict[int, list[int]] = {}

    async def get(self, chat_id: int) -> list[int]:
        return list(self.ids.get(chat_id, []))

    async def put(self, chat_id: int, message_ids: list[int]) -> None:
        self.ids[chat_id] = list(message_ids)


class SqlLiveKeyboards:
    """Live keyboards in `users.live_keyboards`, shared by every replica."""

    def __init__(self, transactions: Transactions) -> None:
        self.transactions = transactions

    async def get(self, chat_id: int) -> list[int]:
        chat = {"chat_id": chat_id}
        ids = await self.transactions.single(lambda connection: connection.scalar(_NOTED, chat))
        return [int(message_id) for message_id in ids or []]

    async def put(self, chat_id: int, message_ids: list[int]) -> None:
        """Note the chat's live keyboards; nothing for a chat that is no user's (nor one just forgotten)."""
        noted = {"chat_id": chat_id, "ids": list(message_ids) or None}
        await self.transactions.single(lambda connection: connection.execute(_NOTE, noted))


# Built once: each delivery reads and notes them (building a statement costs more than running it).
_NOTED = select(User.live_keyboards).where(User.id == bindparam("chat_id"))
_NOTE = update(User).where(User.id == bindparam("chat_id")).values(live_keyboards=bindparam("ids"))
