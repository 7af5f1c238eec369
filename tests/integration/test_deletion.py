"""Deletion is final: a tombstone recognises a deleted user's old updates without naming them, and an
update that waited for the deletion ends without an apology."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from sqlalchemy import select

from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.models import Tombstone
from hipcoach.bot.storage.port import REDELIVERY_WINDOW
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from hipcoach.flows import Command, Text
from tests.fakes import CollectingSender, dispatcher_for, sql_coach
from tests.integration.test_dispatcher import MONDAY_MORNING, USER, Clock
from tests.postgres import only_postgresql


async def delete(storage: SqlStorage, user_id: int, update_id: int) -> None:
    async with storage.unit_of_work(MONDAY_MORNING) as work:
        await work.open_user(user_id, update_id)
        await work.forget(user_id, update_id)
        await work.commit()


async def tombstones(storage: SqlStorage) -> list[dict]:
    async with storage.sessions() as session:
        rows = (await session.scalars(select(Tombstone))).all()
    return [{column.key: getattr(row, column.key) for column in Tombstone.__table__.columns} for row in rows]


async def test_a_tombstone_holds_a_keyed_hash_the_last_update_id_and_the_time_and_nothing_else(
    storage, tmp_path
):
    await delete(storage, USER, 40)
    [kept] = await tombstones(storage)
    assert set(kept) == {"user_hash", "last_update_id", "deleted_at"}
    assert (kept["last_update_id"], kept["deleted_at"]) == (40, MONDAY_MORNING)
    assert len(bytes.fromhex(kept["user_hash"])) == 32  # the HMAC alone
    assert kept["user_hash"] != hashlib.sha256(str(USER).encode()).hexdigest()  # not undone by a table

    other = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    await upgrade(other)
    try:
        elsewhere = SqlStorage(other)
        await delete(elsewhere, USER, 40)
        [there] = await tombstones(elsewhere)
    finally:
        await other.dispose()
    assert there["user_hash"] != kept["user_hash"]  # each database has its own key: no link between them


async def until_a_turn_waits_for_a_lock(storage: SqlStorage) -> None:
    """Poll PostgreSQL until some transaction waits for a lock (the racing turn, for the user's)."""
    async with storage.engine.connect() as connection:
        for _ in range(1000):
            if (await connection.exec_driver_sql("select count(*) from pg_locks where not granted")).scalar():
                return
            await connection.rollback()
            await asyncio.sleep(0.01)
    raise AssertionError("the racing turn never waited for the user's lock")


@only_postgresql
async def test_an_update_that_waited_for_the_user_s_deletion_ends_quietly_and_keeps_nothing(
    database_url, storage, content
):
    answer = await race_the_deletion(database_url, storage, content, update_id=11, deleted_first=False)
    assert answer is None  # no assertion failure, no apology: nothing to say to someone just deleted
    assert all(rows == [] for rows in (await SqlReports(storage.engine).rows_about(USER)).values())


@only_postgresql
async def test_an_older_update_that_waited_for_the_rows_being_deleted_changes_nothing_either(
    database_url, storage, content
):
    answer = await race_the_deletion(database_url, storage, content, update_id=9, deleted_first=True)
    assert answer is None  # its user row was made anew once the deletion committed, then rolled back
    assert all(rows == [] for rows in (await SqlReports(storage.engine).rows_about(USER)).values())


async def race_the_deletion(database_url, storage, content, update_id: int, deleted_first: bool):
    """A known user's 'delete: yes' (update 10) holds their lock while another replica takes a turn of
    theirs; the deletion runs before or after that turn starts waiting. The turn's answer."""
    clock = Clock(MONDAY_MORNING)
    assert await sql_coach(storage, content, clock).turn(USER, Command("start"), update_id=1) is not None
    replica = SqlStorage(make_engine(database_url))
    try:
        async with storage.unit_of_work(MONDAY_MORNING) as deleting:
            await deleting.open_user(USER, 10)
            if deleted_first:
                await deleting.forget(USER, 10)
            turn = sql_coach(replica, content, clock).turn(USER, Text("hi"), update_id=update_id)
            racing = asyncio.create_task(turn)
            await until_a_turn_waits_for_a_lock(storage)
            if not deleted_first:
                await deleting.forget(USER, 10)
            await deleting.commit()
        return await asyncio.wait_for(racing, timeout=30)
    finally:
        await replica.close()


async def test_the_dispatcher_s_prune_drops_tombstones_once_telegram_can_no_longer_redeliver(
    storage, content
):
    clock = Clock(MONDAY_MORNING)
    dispatcher = dispatcher_for(sql_coach(storage, content, clock), CollectingSender())  # no retention set
    await delete(storage, USER, 40)
    clock.now = MONDAY_MORNING + REDELIVERY_WINDOW
    await dispatcher.prune()
    assert len(await tombstones(storage)) == 1
    clock.now += timedelta(seconds=1)
    await dispatcher.prune()
    assert await tombstones(storage) == []
