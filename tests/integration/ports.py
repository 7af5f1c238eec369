"""The storage and reporting ports on each implementation, for suites that hold all three to one contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.port import Reports, Storage
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from tests.fake_storage import FakeReports, FakeStorage
from tests.postgres import fresh_database

KINDS = ["fake", "sqlite", "postgresql"]


@asynccontextmanager
async def ports(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Storage, Reports]]:
    """The ports on `request.param` (one of KINDS): in memory, a fresh SQLite file or PostgreSQL database."""
    if request.param == "fake":
        fake = FakeStorage()
        yield fake, FakeReports(fake)
        return
    if request.param == "sqlite":
        async with _sql(f"sqlite+aiosqlite:///{tmp_path / 'ports.db'}") as sql:
            yield sql
        return
    async with fresh_database(request.getfixturevalue("postgres_url")) as url, _sql(url) as sql:
        yield sql


@asynccontextmanager
async def _sql(url: str) -> AsyncIterator[tuple[Storage, Reports]]:
    engine = make_engine(url)
    await upgrade(engine)
    storage = SqlStorage(engine)
    try:
        yield storage, SqlReports(engine)
    finally:
        await storage.close()
