"""Real databases for integration tests: a fresh SQLite file per test."""

from __future__ import annotations

import pytest

from bot.db import make_engine, upgrade
from bot.storage import SqlStorage


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hipcoach.db'}"


@pytest.fixture
async def storage(database_url):
    engine = make_engine(database_url)
    await upgrade(engine)
    yield SqlStorage(engine)
    await engine.dispose()
