"""Telegram's file id for each animation file sent, so the same file is uploaded only once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hipcoach.bot.storage.db import WriteGate
from hipcoach.bot.storage.models import AnimationFile

log = logging.getLogger(__name__)


class FileIds(Protocol):
    """File ids by file name; a name holds the content hash, so a changed animation is a new name."""

    async def get(self, name: str) -> str | None: ...
    async def put(self, name: str, file_id: str) -> None: ...


class MemoryFileIds:
    """File ids kept for this process only (tests, or a sender without a database)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    async def get(self, name: str) -> str | None:
        return self.ids.get(name)

    async def put(self, name: str, file_id: str) -> None:
        self.ids[name] = file_id


class SqlFileIds:
    """File ids in the `animation_files` table, shared by every replica."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], writing: WriteGate) -> None:
        self.sessions = sessions
        self.writing = writing

    async def get(self, name: str) -> str | None:
        async with self.sessions() as session:
            return await session.scalar(select(AnimationFile.file_id).where(AnimationFile.name == name))

    async def put(self, name: str, file_id: str) -> None:
        """Keep the first id noted for a name; a replica that sent the same file at once keeps its own."""
        async with self.writing(), self.sessions() as session:
            session.add(AnimationFile(name=name, file_id=file_id, sent_at=datetime.now(UTC)))
            try:
                await session.commit()
            except IntegrityError:
                log.info("animation file id already noted name=%s", name)
