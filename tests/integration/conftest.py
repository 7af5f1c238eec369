"""Real databases for integration tests: each test runs on a fresh SQLite file and PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from tests.postgres import GIVEN_URL, PostgresUnavailable, fresh_database, postgres_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the whole session: the given one, or a local one started and stopped here."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailable as error:
            reason = f"no PostgreSQL to test against (set {GIVEN_URL} or allow apt-get): {error}"
            if os.environ.get("CI"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_server(request: pytest.FixtureRequest) -> str | None:
    """The PostgreSQL server's URL, or None for SQLite."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


@pytest.fixture
async def database_url(database_server: str | None, tmp_path) -> AsyncIterator[str]:
    """An empty database of the test's own."""
    if database_server is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'hipcoach.db'}"
        return
    async with fresh_database(database_server) as url:
        yield url


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[SqlStorage]:
    engine = make_engine(database_url)
    await upgrade(engine)
    storage = SqlStorage(engine)
    yield storage
    await storage.close()


@pytest.fixture
def reports(storage: SqlStorage) -> SqlReports:
    return SqlReports(storage.engine)
