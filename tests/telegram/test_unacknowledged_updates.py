"""An update whose turn cannot commit is not acknowledged: the webhook answers 503 and Telegram delivers
it again; a polled update is taken again in the process. Each gets one apology, sent without the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from hipcoach.bot.bootstrap import Settings, build_telegram
from hipcoach.bot.delivery.rate_limit import SqlSendLimiter, limiter_for
from hipcoach.bot.entrypoints import ops
from hipcoach.bot.storage.db import make_engine
from hipcoach.bot.storage.models import ProcessedUpdate, User
from hipcoach.bot.storage.sql import SqlStorage
from hipcoach.bot.telegram.app import SECRET_HEADER, WebhookHandler
from tests.fakes import FakeClock
from tests.postgres import SPEED, LocalServer, PostgresUnavailable, binaries, install
from tests.proofs.harness import free_port
from tests.telegram.conftest import BASE_URL, NOW, TOKEN, Sleeps, offline
from tests.telegram.fake_bot_api import FakeBotApi, OfflineRequest
from tests.telegram.offline_chat import USER_ID, OfflineChat

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

SECRET = "unacknowledged-secret"
USERS = (4301, 4302, 4303)


class DatabaseDown(OperationalError):
    def __init__(self) -> None:
        super().__init__("connect", {}, ConnectionRefusedError("database down"))


@dataclass
class Outage:
    """The database refuses every unit of work while `down`; counts the turns that got through."""

    storage: SqlStorage
    down: bool = True
    refused: int = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        unit_of_work = self.storage.unit_of_work

        def maybe_down(now: datetime) -> Any:
            if self.down:
                self.refused += 1
                raise DatabaseDown()
            return unit_of_work(now)

        monkeypatch.setattr(self.storage, "unit_of_work", maybe_down)
        mark_inactive = self.storage.mark_inactive

        async def mark_unless_down(user_id: int) -> None:
            if self.down:
                self.refused += 1
                raise DatabaseDown()
            await mark_inactive(user_id)

        monkeypatch.setattr(self.storage, "mark_inactive", mark_unless_down)


def updates_from(application, api: FakeBotApi, first_id: int) -> list[dict[str, Any]]:
    """/start from each user, then /help from the first: four updates, two of them from one user."""
    chats = [OfflineChat(application, api, user_id) for user_id in USERS]
    said = [(chat, "/start") for chat in chats] + [(chats[0], "/help")]
    return [
        {"update_id": first_id + index, "message": chat._message(command_entity(text))}
        for index, (chat, text) in enumerate(said)
    ]


def command_entity(text: str) -> dict[str, Any]:
    return {"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}


def sent_to(api: FakeBotApi) -> Counter[tuple[int, str]]:
    """How many times each chat got each text."""
    return Counter((params["chat_id"], params["text"]) for _, params in api.delivered)


async def processed(storage: SqlStorage) -> list[int]:
    async with storage.sessions() as session:
        return sorted((await session.scalars(select(ProcessedUpdate.update_id))).all())


@asynccontextmanager
async def webhook(application) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook handler on a free port, and a client that posts to it as Telegram does."""
    port = free_port()
    rules: ops.Routes = [("/hook", WebhookHandler, {"telegram": application, "secret": SECRET})]
    server = await ops.serve(rules, "127.0.0.1", port)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={SECRET_HEADER: SECRET}, trust_env=False, timeout=20
        ) as client:
            yield client
    finally:
        server.stop()
        await server.close_all_connections()


async def post_all(client: httpx.AsyncClient, updates: list[dict[str, Any]]) -> list[int]:
    return [(await client.post("/hook", json=update)).status_code for update in updates]


async def test_the_webhook_answers_503_while_the_database_is_down_and_handles_each_update_once_after(
    offline_bot, monkeypatch
):
    application, api, storage = offline_bot.chat.application, offline_bot.api, offline_bot.storage
    sorry = offline_bot.coach.content.message("error_will_retry").strip()
    outage = Outage(storage)
    outage.install(monkeypatch)
    updates = updates_from(application, api, first_id=700)
    await application.start()
    try:
        async with webhook(application) as client:
            during = [await post_all(client, updates) for _ in range(3)]  # Telegram delivers them again
            apologies = sent_to(api)
            outage.down = False
            after = await post_all(client, updates)
            replies = len(api.delivered) - sum(apologies.values())
            again = await post_all(client, updates)  # a 200 lost on the way: delivered once more
    finally:
        await application.stop()
    assert during == [[503] * 4] * 3 and after == [200] * 4 and again == [200] * 4
    assert apologies == {(USERS[0], sorry): 2, (USERS[1], sorry): 1, (USERS[2], sorry): 1}
    assert outage.refused == 12
    assert await processed(storage) == [700, 701, 702, 703]  # each taken once, after the outage
    assert replies > 4 and len(api.delivered) - sum(apologies.values()) == replies  # nothing sent twice
    assert max(sent_to(api).values()) == 2  # the first user's two apologies, one per update


async def test_a_block_and_an_unblock_during_an_outage_are_answered_503_and_stored_after(
    offline_bot, monkeypatch
):
    application, chat, storage = offline_bot.chat.application, offline_bot.chat, offline_bot.storage
    await chat.send("/start")
    outage = Outage(storage, down=False)
    outage.install(monkeypatch)
    bot_user = {"id": 777000111, "is_bot": True, "first_name": "Hip Coach"}
    change = {"chat": chat.private_chat, "from": chat.user, "date": 1_796_000_000}
    member = {"user": bot_user, "status": "member"}
    kicked = {"user": bot_user, "status": "kicked", "until_date": 0}
    block = {
        "update_id": 750,
        "my_chat_member": {**change, "old_chat_member": member, "new_chat_member": kicked},
    }
    unblock = {**block, "update_id": 751}
    unblock["my_chat_member"] = {**change, "old_chat_member": kicked, "new_chat_member": member}
    said = len(chat.api.delivered)
    await application.start()
    try:
        async with webhook(application) as client:
            active = []
            for update in (block, unblock):
                outage.down = True
                during = await post_all(client, [update, update])
                outage.down = False
                after = await post_all(client, [update])
                active.append((during, after, await is_active(storage)))
    finally:
        await application.stop()
    assert active == [([503, 503], [200], False), ([503, 503], [200], True)]
    assert outage.refused == 4 and len(chat.api.delivered) == said  # nothing said, not even sorry


async def is_active(storage: SqlStorage) -> bool:
    async with storage.sessions() as session:
        return bool(await session.scalar(select(User.active).where(User.id == USER_ID)))


# Polling


@dataclass
class PolledBotApi(FakeBotApi):
    """The fake Bot API serving getUpdates: each pending update from the offset asked for on."""

    pending: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method != "getUpdates":
            return super().answer(method, params)
        offset = int(params.get("offset") or 0)
        self.offsets.append(offset)
        return 200, {"ok": True, "result": [u for u in self.pending if u["update_id"] >= offset]}


@dataclass
class OutageClock(Sleeps):
    """An injected sleep that moves time on; the outage ends once `lasts` seconds have passed."""

    outage: Outage | None = None
    lasts: float = 10.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.outage is not None and sum(self.waits) >= self.lasts:
            self.outage.down = False
        await asyncio.sleep(0)


async def until(condition, seconds: float = 20.0) -> None:
    """Wait (really, bounded) until `condition()` holds: the updater runs in its own task."""
    for _ in range(int(seconds / 0.01)):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in time")


async def test_polling_takes_an_update_again_until_the_database_is_back_and_loses_none(
    offline_settings, bot_api_spec, monkeypatch
):
    api, sleep = PolledBotApi(bot_api_spec), OutageClock()
    request = OfflineRequest(api, BASE_URL)
    built = await build_telegram(
        offline_settings, clock=FakeClock(NOW), request=request, updates_request=request, sleep=sleep
    )
    outage = sleep.outage = Outage(built.database.storage)
    outage.install(monkeypatch)
    sorry = built.coach.content.message("error_will_retry").strip()
    try:
        async with built.application as application:
            api.pending = updates_from(application, api, first_id=800)
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.01, timeout=0)
            try:
                await until(lambda: _all_processed(built.database.storage, 4))
                await until(lambda: _offset_past(api, 804))
            finally:
                await application.updater.stop()
                await application.stop()
    finally:
        await built.database.close()
    assert await processed(built.database.storage) == [800, 801, 802, 803]
    assert sum(sleep.waits) >= 10 and outage.refused >= 2  # it was down, and the update waited it out
    apologies = [chat for (chat, text), times in sent_to(api).items() if text == sorry for _ in range(times)]
    assert 1 <= len(apologies) <= 4 and max(Counter(apologies).values()) <= 2  # one at most per update
    start = replies_of(api, USERS[1], sorry)
    help_text = built.coach.content.message("help").strip()
    first_user = replies_of(api, USERS[0], sorry)
    assert start and len(set(start)) == len(start) and replies_of(api, USERS[2], sorry) == start
    assert first_user[: len(start)] == start and first_user[len(start)] == help_text  # in order, once each
    assert first_user.count(help_text) == 1 and len(api.delivered) - len(apologies) == 3 * len(start) + 2
    assert api.violations == []


def replies_of(api: FakeBotApi, user_id: int, sorry: str) -> list[str]:
    """The texts a user got, apologies left out, in order."""
    return [p["text"] for _, p in api.delivered if p["chat_id"] == user_id and p["text"] != sorry]


async def _all_processed(storage: SqlStorage, count: int) -> bool:
    try:
        return len(await processed(storage)) == count
    except Exception:
        return False


async def _offset_past(api: PolledBotApi, offset: int) -> bool:
    return bool(api.offsets) and api.offsets[-1] >= offset


# The apology without the database, and a real PostgreSQL outage


@dataclass
class FakeTime:
    """A clock that moves only when the limiter sleeps."""

    now: datetime = NOW
    slept: list[float] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


async def test_the_send_limiter_counts_in_the_process_while_its_table_cannot_be_reached(caplog):
    engine = make_engine(f"postgresql+asyncpg://hipcoach@127.0.0.1:{free_port()}/gone")  # nobody listens
    time = FakeTime()
    try:
        limiter = limiter_for(engine, 2, time.clock, time.sleep)
        granted = [await limiter.acquire() for _ in range(5)]
    finally:
        await engine.dispose()
    assert isinstance(limiter, SqlSendLimiter)
    assert sorted(Counter(granted).values()) == [1, 2, 2]  # still at most 2 a second, in this process
    unreachable = [r.getMessage() for r in caplog.records if "send slots unreachable" in r.getMessage()]
    assert len(unreachable) == 1  # logged once, however many sends counted in the process


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[LocalServer]:
    """A PostgreSQL server of this module's own, which a test may stop and start again."""
    try:
        server = LocalServer(binaries() or install())
        server.start()
    except PostgresUnavailable as error:
        pytest.skip(f"no PostgreSQL to stop and start: {error}")
    try:
        yield server
    finally:
        server.stop()


def pg_ctl(server: LocalServer, action: str) -> None:
    """Stop the server (its clients see the connection drop) or start it again on the same port and data."""
    options = f"-p {server.port} -k {server.root} -c listen_addresses=127.0.0.1 {SPEED}"
    log = str(server.root / "server.log")
    if action == "stop":
        server._run("pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop")
    else:
        server._run("pg_ctl", "-D", str(server.data), "-l", log, "-o", options, "-w", "start")


async def test_during_a_postgresql_outage_updates_get_503_and_one_apology_and_are_handled_once_after(
    postgres_cluster, tmp_path, bot_api_spec, caplog
):
    settings = Settings(
        database_url=postgres_cluster.url,
        telegram_token=TOKEN,
        telegram_api_url=BASE_URL,
        upgrade_on_start=True,
        files_dir=tmp_path / "files",
    )
    caplog.set_level(logging.INFO)
    async with offline(settings, bot_api_spec) as bot:
        application, api = bot.chat.application, bot.api
        sorry = bot.coach.content.message("error_will_retry").strip()
        first, *updates = updates_from(application, api, first_id=900)
        await application.start()
        try:
            async with webhook(application) as client:
                before = await post_all(client, [first])
                pg_ctl(postgres_cluster, "stop")
                try:
                    during = [await post_all(client, updates) for _ in range(2)]
                    apologies = sent_to(api)
                finally:
                    pg_ctl(postgres_cluster, "start")
                after = [await redelivered_until_taken(client, update) for update in updates]
                again = await post_all(client, updates)
        finally:
            await application.stop()
        handled = await processed(bot.storage)
    assert before == [200] and during == [[503] * 3] * 2 and again == [200] * 3
    assert all(tries <= 3 for tries in after)  # a dropped pooled connection may cost one more 503
    assert [count for (_, text), count in apologies.items() if text == sorry] == [1, 1, 1]
    assert handled == [900, 901, 902, 903]
    messages = [r.getMessage() for r in caplog.records]
    assert "send slots reachable again" in messages
    assert sum("send slots unreachable" in m for m in messages) == 1


async def redelivered_until_taken(client: httpx.AsyncClient, update: dict[str, Any], tries: int = 5) -> int:
    """Post an update as Telegram does until it is answered 200; how many posts that took."""
    for attempt in range(1, tries + 1):
        if (await client.post("/hook", json=update)).status_code == 200:
            return attempt
        await asyncio.sleep(0.2)
    raise AssertionError(f"update {update['update_id']} never answered 200")
