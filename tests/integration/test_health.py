"""The health check's write probe on real SQLite and PostgreSQL: it writes for real and leaves nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from hipcoach.bot.entrypoints import ops
from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.models import SendSlot


def read_only(url: str):
    """An engine on the same database that may only read: a read-only SQLite file, a read-only session."""
    if url.startswith("sqlite"):
        return make_engine(url.replace(":///", ":///file:", 1) + "?mode=ro&uri=true")
    return make_engine(url, connect_args={"server_settings": {"default_transaction_read_only": "on"}})


async def test_the_write_probe_commits_and_leaves_no_row_behind(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        await ops.write_probe(engine)
        await ops.write_probe(engine)  # again: nothing left over to collide with
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(SendSlot)) == 0
        assert await ops.Health(engine, lambda: 1.0, 60).check() == {"database": "ok", "dispatcher": "ok"}
    finally:
        await engine.dispose()


async def test_the_write_probe_fails_on_a_database_that_only_reads(database_url):
    engine = make_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    reader = read_only(database_url)
    try:
        with pytest.raises(DBAPIError):
            await ops.write_probe(reader)
        report = await ops.Health(reader, lambda: 1.0, 60).check()
    finally:
        await reader.dispose()
    assert report["database"].startswith("not writable: ")
