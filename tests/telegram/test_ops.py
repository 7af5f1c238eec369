"""Operations: /healthz and /metrics over HTTP, JSON log lines, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import BadRequest
from tornado.httpserver import HTTPServer

from hipcoach.bot import bootstrap
from hipcoach.bot.bootstrap import ConfigError, Settings, settings_from_env
from hipcoach.bot.entrypoints import ops
from hipcoach.bot.storage.db import make_engine
from hipcoach.bot.telegram.app import SECRET_HEADER, STALE_AFTER, WebhookHandler, finish, serve_telegram
from hipcoach.flows import Choice
from tests.fakes import CollectingSender, dispatcher_for
from tests.telegram.bot_api_emulator import EmulatedUser, as_seen, free_port, stop
from tests.telegram.fake_bot_api import FakeBotApi, OfflineRequest
from tests.telegram.offline_chat import USER_ID
from tests.telegram.script import onboarding

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

SECRET = "ops_test-secret"
TOKEN = "123456:ops-offline-token"
BASE_URL = "https://api.telegram.org/bot"
UP_TIMEOUT = 30  # seconds a starting bot may take to answer /healthz
STOP_TIMEOUT = 20  # seconds a stopping bot may take to exit
SQLITE_BUSY_TIMEOUT_MS = 10000  # bot/db.py sets it on every connection
HELD_LOCK_TIMEOUT = 1.0  # seconds /healthz waits for the database: far below SQLite's busy timeout (10 s)


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def ops_server(metrics: ops.Metrics, health: ops.Health, engine: AsyncEngine) -> AsyncIterator[str]:
    """The ops routes on a loopback port of this event loop; yields their base URL."""
    port = free_port()
    server = await ops.serve(ops.routes(metrics, health, engine), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await shut(server)


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        return await client.get(url)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and labels (the parser checks the format)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


# /healthz


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def engine(database_url) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def test_healthz_is_ok_when_the_database_answers_and_the_dispatcher_just_finished_a_round(
    engine, offline_bot, ticks
):
    dispatcher = dispatcher_for(offline_bot.coach, CollectingSender(), monotonic=ticks)
    health = ops.Health(engine, dispatcher.since_heartbeat, STALE_AFTER)
    async with ops_server(ops.Metrics(), health, engine) as url:
        await dispatcher.run_due()
        dispatcher.beat()  # what run_forever does after a round
        ticks.now += STALE_AFTER
        response = await get(f"{url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "dispatcher": "ok"}


async def test_healthz_fails_when_the_database_cannot_be_reached():
    unreachable = make_engine(f"postgresql+asyncpg://hipcoach:pw@127.0.0.1:{free_port()}/hipcoach")
    health = ops.Health(unreachable, lambda: 1.0, STALE_AFTER)  # a dispatcher that just made progress
    try:
        async with ops_server(ops.Metrics(), health, unreachable) as url:
            response = await get(f"{url}/healthz")
            scrape = await get(f"{url}/metrics")  # still answers, with the gauges it last knew
    finally:
        await unreachable.dispose()
    assert response.status_code == 503
    assert response.json() == {"database": "unreachable: ConnectionRefusedError", "dispatcher": "ok"}
    assert scrape.status_code == 200
    assert samples(scrape.text)[("hipcoach_outbox_depth", ())] == 0


async def test_healthz_fails_until_the_dispatcher_has_run_and_when_it_makes_no_progress(
    engine, offline_bot, ticks
):
    dispatcher = dispatcher_for(offline_bot.coach, CollectingSender(), monotonic=ticks)
    health = ops.Health(engine, dispatcher.since_heartbeat, STALE_AFTER)
    async with ops_server(ops.Metrics(), health, engine) as url:
        before = await get(f"{url}/healthz")
        dispatcher.beat()
        ticks.now += STALE_AFTER + 1
        stale = await get(f"{url}/healthz")
    assert (before.status_code, before.json()) == (503, {"database": "ok", "dispatcher": "not started"})
    assert stale.status_code == 503
    assert stale.json() == {"database": "ok", "dispatcher": f"stale: no progress for {STALE_AFTER + 1:.0f} s"}


async def test_healthz_answers_at_once_while_another_connection_holds_the_sqlite_write_lock(
    engine, database_url
):
    path = database_url.removeprefix("sqlite+aiosqlite:///")
    health = ops.Health(engine, lambda: 1.0, STALE_AFTER, timeout=HELD_LOCK_TIMEOUT)
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")  # a long write, in another connection (or process)
        with closing(sqlite3.connect(path, timeout=0)) as other, pytest.raises(sqlite3.OperationalError):
            other.execute("BEGIN IMMEDIATE")  # the write lock is held
        async with ops_server(ops.Metrics(), health, engine) as url:
            response = await get(f"{url}/healthz")
        writer.rollback()
    assert (response.status_code, response.json()) == (200, {"database": "ok", "dispatcher": "ok"})


async def test_healthz_fails_when_the_database_answers_reads_but_refuses_writes(database_url):
    path = database_url.removeprefix("sqlite+aiosqlite:///")
    read_only = make_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")  # even for root
    health = ops.Health(read_only, lambda: 1.0, STALE_AFTER)
    try:
        async with ops_server(ops.Metrics(), health, read_only) as url:
            response = await get(f"{url}/healthz")
    finally:
        await read_only.dispose()
    assert response.status_code == 503
    assert response.json() == {"database": "not writable: OperationalError", "dispatcher": "ok"}


async def test_healthz_leaves_no_trace_and_the_pooled_connection_waits_for_the_lock_again(engine):
    health = ops.Health(engine, lambda: 1.0, STALE_AFTER)
    assert await health.check() == {"database": "ok", "dispatcher": "ok"}
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT count(*) FROM send_slots")).scalar() == 0
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS


# /metrics


async def scheduled(offline_bot):
    """The offline user onboarded, through a first session, with weekday sessions at 18:00 UTC."""
    chat = offline_bot.chat
    await chat.play(onboarding())
    checkin = ("checkin_pain:1", "checkin_effort:ok", "checkin_control:smooth", "checkin_parts:fine")
    for value in ("session:done", *checkin):
        await chat.press(value)
    for value in ("schedule_days:weekdays", "schedule_time:1800", "schedule_zone:utc"):
        await chat.press(value)
    await chat.press("schedule_summary_day:6")
    await chat.press("schedule_confirm:yes")
    return offline_bot


async def test_metrics_count_turns_due_prompts_deliveries_the_outbox_and_blocked_users(offline_bot, engine):
    metrics, coach = offline_bot.built.metrics, offline_bot.coach  # the coach's and dispatcher's observer
    turns = len(onboarding()) + 10  # the first session and its check-in, then the schedule
    await scheduled(offline_bot)
    offline_bot.clock.advance(timedelta(hours=11))  # 19:00 UTC: the 18:00 session is due
    assert await offline_bot.built.dispatcher.run_due() == 1
    await coach.turn(USER_ID, Choice("session_offer:skip"), update_id=1)  # committed, its sender died
    offline_bot.clock.advance(offline_bot.storage.outbox.lease + timedelta(seconds=1))  # its claim lapsed
    offline_bot.api.blocked_chats.add(USER_ID)
    await offline_bot.chat.send("/today")  # its reply waits behind the older one: left for the dispatcher

    health = ops.Health(engine, lambda: 0.0, STALE_AFTER)
    async with ops_server(metrics, health, engine) as url:
        response = await get(f"{url}/metrics")
        values = samples(response.text)
        assert values[("hipcoach_outbox_depth", ())] == 2  # both replies committed, neither sent
        await offline_bot.built.dispatcher.run_due()  # the older first: it finds the bot blocked
        after = samples((await get(f"{url}/metrics")).text)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert values[("hipcoach_updates_handled_total", (("outcome", "ok"),))] == turns + 2
    assert values[("hipcoach_updates_handled_total", (("outcome", "error"),))] == 0
    assert values[("hipcoach_turn_seconds_count", ())] == turns + 2
    assert values[("hipcoach_prompts_due_total", ())] == 1
    assert values[("hipcoach_prompts_sent_total", ())] == 1
    assert values[("hipcoach_prompts_failed_total", ())] == 0
    assert values[("hipcoach_users_blocked", ())] == 0
    assert after[("hipcoach_users_blocked", ())] == 1
    assert after[("hipcoach_outbox_depth", ())] == 0  # settled: a blocked user is sent nothing more


async def test_metrics_count_safety_events_by_tier_and_never_their_text(offline_bot, engine):
    metrics = ops.Metrics()
    await offline_bot.chat.send("hello")
    await offline_bot.chat.press("consent:yes")
    await offline_bot.chat.send("I have sciatica down my left leg")  # ask
    await offline_bot.chat.send("numb when i wipe")  # urgent
    health = ops.Health(engine, lambda: 0.0, STALE_AFTER)
    async with ops_server(metrics, health, engine) as url:
        response = await get(f"{url}/metrics")
    values = samples(response.text)
    assert values[("hipcoach_safety_events", (("tier", "ask"),))] == 1
    assert values[("hipcoach_safety_events", (("tier", "urgent"),))] == 1
    assert "wipe" not in response.text and "sciatica" not in response.text


async def test_a_turn_that_fails_is_counted_as_an_error_and_answered_with_an_apology(
    offline_bot, monkeypatch
):
    metrics = offline_bot.built.metrics

    def database_gone(*args: object) -> None:
        raise ConnectionRefusedError

    monkeypatch.setattr(offline_bot.storage, "unit_of_work", database_gone)
    replies = await offline_bot.chat.send("/start")
    assert metrics.registry.get_sample_value("hipcoach_updates_handled_total", {"outcome": "error"}) == 1
    assert metrics.registry.get_sample_value("hipcoach_updates_handled_total", {"outcome": "ok"}) == 0
    sorry = offline_bot.coach.content.message("error_will_retry").strip()
    assert [reply.text for reply in replies] == [sorry]


async def test_metrics_count_each_message_sent_without_an_answer(offline_bot):
    metrics = offline_bot.built.metrics
    offline_bot.api.time_out_next("sendMessage", times=2, delivered=True)
    await offline_bot.chat.send("/start")
    assert metrics.registry.get_sample_value("hipcoach_sends_unconfirmed_total") == 2


# JSON log lines


def test_json_log_lines_carry_the_fields_in_force_and_never_an_exceptions_message():
    said = "pain 7, felt awful"
    try:
        raise ValueError(said)
    except ValueError:
        error = sys.exc_info()
    record = logging.LogRecord(
        "hipcoach.bot.coach", logging.ERROR, __file__, 1, "turn failed user=%s", (7,), error
    )
    with ops.log_fields(update_id=12, user_id=7, unknown=None):
        line = json.loads(ops.JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "update_id", "user_id", "error")} == {
        "level": "ERROR",
        "logger": "hipcoach.bot.coach",
        "message": "turn failed user=7",
        "update_id": 12,
        "user_id": 7,
        "error": "ValueError",
    }
    assert "unknown" not in line
    assert "test_ops.py" in line["traceback"]
    assert "pain 7" not in json.dumps(line)
    assert line["time"].endswith("+00:00")


# Settings


def test_log_format_and_metrics_port_are_read_from_the_environment():
    env = {"HOME": "/nonexistent", "HIPCOACH_LOG_FORMAT": "JSON", "HIPCOACH_METRICS_PORT": "9090"}
    settings = settings_from_env(env)
    assert (settings.log_format, settings.metrics_port) == ("json", 9090)
    assert (settings_from_env({"HOME": "/nonexistent"}).log_format, settings.metrics_port) == ("plain", 9090)
    assert settings_from_env({"HOME": "/nonexistent"}).metrics_port is None


@pytest.mark.parametrize(
    "env, problem",
    [
        ({"HIPCOACH_LOG_FORMAT": "xml"}, "HIPCOACH_LOG_FORMAT must be plain or json"),
        ({"HIPCOACH_METRICS_PORT": "70000"}, "HIPCOACH_METRICS_PORT must be a port number"),
        ({"HIPCOACH_METRICS_PORT": "http"}, "HIPCOACH_METRICS_PORT must be a whole number"),
        (
            {"HIPCOACH_WEBHOOK_URL": "https://x.test/hook", "HIPCOACH_METRICS_PORT": "8443"},
            "HIPCOACH_METRICS_PORT must differ from HIPCOACH_WEBHOOK_PORT",
        ),
    ],
)
def test_bad_log_format_or_metrics_port_fail_with_a_clear_message(env, problem):
    with pytest.raises(ConfigError, match=problem):
        settings_from_env({"HOME": "/nonexistent", **env})


# The webhook server


async def test_the_webhook_refuses_posts_without_the_secret_and_answers_the_rest_once_handled(offline_bot):
    application = offline_bot.chat.application
    port = free_port()
    rules: ops.Routes = [("/hook", WebhookHandler, {"telegram": application, "secret": SECRET})]
    server = await ops.serve(rules, "127.0.0.1", port)
    update = {"update_id": 31, "message": offline_bot.chat._message({"text": "/start"})}
    signed = {SECRET_HEADER: SECRET}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            forged = [
                (await client.post("/hook", json=update, headers=headers)).status_code
                for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET.upper()})
            ]
            not_running = await client.post("/hook", json=update, headers=signed)
            await application.start()
            unreadable = await client.post("/hook", content=b"{not json", headers=signed)
            accepted = await client.post("/hook", json=update, headers=signed)
            await application.stop()
    finally:
        await shut(server)
    assert forged == [403, 403, 403]
    assert [r.status_code for r in (not_running, unreadable, accepted)] == [503, 400, 200]
    assert replied_to(offline_bot.api) == {USER_ID}  # answered before the 200


async def test_stopping_finishes_the_turn_in_flight_and_answers_it_before_closing(offline_bot, monkeypatch):
    application, coach, storage = offline_bot.chat.application, offline_bot.coach, offline_bot.storage
    entered, release = asyncio.Event(), asyncio.Event()
    unit_of_work = storage.unit_of_work

    @asynccontextmanager
    async def held(now: datetime) -> AsyncIterator[Any]:
        entered.set()
        await release.wait()
        async with unit_of_work(now) as work:
            yield work

    monkeypatch.setattr(storage, "unit_of_work", held)
    await application.start()
    stop = asyncio.Event()
    prompts = asyncio.create_task(dispatcher_for(coach, CollectingSender()).run_forever(stop))
    port = free_port()
    rules: ops.Routes = [("/hook", WebhookHandler, {"telegram": application, "secret": SECRET})]
    server = await ops.serve(rules, "127.0.0.1", port)
    update = {"update_id": 32, "message": offline_bot.chat._message({"text": "/start"})}
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        post = asyncio.create_task(
            client.post(f"http://127.0.0.1:{port}/hook", json=update, headers={SECRET_HEADER: SECRET})
        )
        await asyncio.wait_for(entered.wait(), 10)  # the turn is in flight
        stop.set()
        finishing = asyncio.create_task(finish(application, [server], prompts))
        while application.running:  # until the application has begun to stop
            await asyncio.sleep(0)
        assert not finishing.done()  # it waits for the turn
        release.set()
        response = await asyncio.wait_for(post, 10)
        await asyncio.wait_for(finishing, 10)
    assert response.status_code == 200
    assert replied_to(offline_bot.api) == {USER_ID}
    assert (await storage.load_state(USER_ID)).name == "consent"


def replied_to(api: FakeBotApi) -> set[int]:
    return {params["chat_id"] for _, params in api.delivered}


async def shut(server: HTTPServer) -> None:
    server.stop()
    await server.close_all_connections()


# SIGTERM during startup: in this process, with each startup step in turn held up


class HeldRequest(OfflineRequest):
    """The offline Bot API, on which one method never answers: a startup step that hangs."""

    def __init__(self, api: FakeBotApi, method: str, reached: asyncio.Event) -> None:
        super().__init__(api, BASE_URL)
        self.method = method
        self.reached = reached

    async def do_request(
        self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if url.rsplit("/", 1)[-1] == self.method:
            self.reached.set()
            await asyncio.Event().wait()
        return await super().do_request(url, method, request_data, *args, **kwargs)


@contextmanager
def sigterm_noted() -> Iterator[list[int]]:
    """SIGTERM noted here when nobody else handles it, instead of ending the test run."""
    noted: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGTERM, previous)


def sqlite_write_lock_is_free(path: str) -> bool:
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as probe:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        probe.execute("ROLLBACK")
        return True


@pytest.mark.parametrize(
    "step, webhook",
    [
        ("migrations", True),
        ("getMe", True),  # Application.initialize
        ("setMyCommands", True),
        ("setWebhook", True),  # the webhook server already listens
        ("deleteWebhook", False),  # polling's start, the metrics server already listening
    ],
)
async def test_sigterm_during_startup_stops_cleanly_and_leaves_nothing_running(
    step, webhook, database_url, bot_api_spec, monkeypatch, caplog
):
    reached = asyncio.Event()
    engines: list[AsyncEngine] = []
    monkeypatch.setattr(bootstrap, "make_engine", lambda url: engines.append(make_engine(url)) or engines[-1])

    async def held_upgrade(engine: AsyncEngine) -> None:
        async with engine.begin():  # SQLite's write lock, as a real migration takes it
            reached.set()
            await asyncio.Event().wait()

    if step == "migrations":
        monkeypatch.setattr(bootstrap, "upgrade", held_upgrade)
    request = HeldRequest(FakeBotApi(bot_api_spec), step, reached)
    port = free_port()
    where = {"webhook_url": f"http://127.0.0.1:{port}/telegram", "webhook_port": port}
    settings = Settings(
        database_url=database_url,
        telegram_token=TOKEN,
        telegram_api_url=BASE_URL,
        webhook_secret=SECRET,
        **(where if webhook else {"metrics_port": port}),
    )
    before = asyncio.all_tasks()
    caplog.set_level(logging.INFO, logger="hipcoach.bot.telegram.app")
    with sigterm_noted() as unhandled:
        serving = asyncio.create_task(serve_telegram(settings, request=request, updates_request=request))
        await asyncio.wait(
            [serving, asyncio.create_task(reached.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        assert reached.is_set(), serving.result()
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(serving, STOP_TIMEOUT)
    assert (code, unhandled) == (0, [])
    assert "stopping: the signal came during startup" in caplog.messages
    assert asyncio.all_tasks() - before == set()  # no dispatcher, no update fetcher, no poller
    assert [(engine.pool.checkedout(), engine.pool.checkedin()) for engine in engines] == [(0, 0)]
    assert sqlite_write_lock_is_free(database_url.removeprefix("sqlite+aiosqlite:///"))
    with pytest.raises(httpx.ConnectError):
        await get(f"http://127.0.0.1:{port}/healthz")


async def test_a_startup_that_fails_releases_what_it_started_and_raises(database_url, bot_api_spec):
    api = FakeBotApi(bot_api_spec)
    api.fail_next("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    request = OfflineRequest(api, BASE_URL)
    port = free_port()
    settings = Settings(
        database_url=database_url,
        telegram_token=TOKEN,
        telegram_api_url=BASE_URL,
        webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_port=port,
        webhook_secret=SECRET,
    )
    before = asyncio.all_tasks()
    with pytest.raises(BadRequest):
        await asyncio.wait_for(
            serve_telegram(settings, request=request, updates_request=request), STOP_TIMEOUT
        )
    assert asyncio.all_tasks() - before == set()
    with pytest.raises(httpx.ConnectError):
        await get(f"http://127.0.0.1:{port}/healthz")


# The program: polling with a metrics port, a webhook, and SIGTERM


def bot_env(tmp_path: Path, token: str, api_url: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": api_url,
        "HIPCOACH_DATABASE_URL": f"sqlite:///{tmp_path / 'hipcoach.bot.storage.db'}",
        "HIPCOACH_LOG_LEVEL": "DEBUG",
        "HIPCOACH_LOG_FORMAT": "json",
        **extra,
    }


@contextmanager
def hipcoach_run(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`hipcoach run` as a subprocess, killed if a test leaves it running."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hipcoach.bot", "run", *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            stop(process)


def wait_healthy(url: str) -> dict[str, Any]:
    """Poll /healthz until it answers 200, at most UP_TIMEOUT seconds."""
    deadline, last = time.monotonic() + UP_TIMEOUT, None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"{url}/healthz", trust_env=False, timeout=5)
        except httpx.TransportError:
            last = None
        if last is not None and last.status_code == 200:
            return last.json()
        time.sleep(0.05)  # a poll interval, not a wait for something to happen
    raise AssertionError(f"/healthz never answered 200: {last and last.text}")


def terminate(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=STOP_TIMEOUT)


def log_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of the log, each of which must be a JSON object."""
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines and all(isinstance(line, dict) for line in lines)
    return lines


def assert_private(log: Path, *secrets: str) -> None:
    """Neither the raw log nor its decoded lines hold a secret, a text the user typed, or a reply."""
    decoded = json.dumps(log_lines(log), ensure_ascii=False)
    for text in (log.read_text(), decoded):
        assert [secret for secret in secrets if secret in text] == []


def test_polling_serves_healthz_and_metrics_on_the_metrics_port_and_logs_json(emulator, tmp_path):
    token = "2001:ops-polling-token"
    user = emulator.user(token, user_id=6001)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "hipcoach.bot.log"
    env = bot_env(tmp_path, token, emulator.api_url, HIPCOACH_METRICS_PORT=str(port))
    with hipcoach_run([], env, log) as process:
        assert wait_healthy(url) == {"database": "ok", "dispatcher": "ok"}
        user.say("/start")
        (reply,) = user.replies(1)
        values = samples(httpx.get(f"{url}/metrics", trust_env=False, timeout=10).text)
        assert values[("hipcoach_updates_handled_total", (("outcome", "ok"),))] == 1
        assert values[("hipcoach_turn_seconds_count", ())] == 1
        assert terminate(process) == 0, log.read_text()

    lines = log_lines(log)
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    turns = [line for line in lines if line["message"].startswith("turn ")]
    assert [(line["user_id"], line["logger"]) for line in turns] == [(6001, "hipcoach.bot.coach")]
    assert isinstance(turns[0]["update_id"], int)
    assert lines[-1]["message"] == "stopped cleanly"
    reply_text, _ = as_seen(reply)
    assert_private(log, token, *[line for line in reply_text.splitlines() if len(line) > 12])


def test_sigterm_stops_a_webhook_bot_cleanly_and_closes_its_port(emulator, tmp_path):
    token = "2002:ops-webhook-token"
    user = emulator.user(token, user_id=6002)
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/telegram"
    log = tmp_path / "hipcoach.bot.log"
    env = bot_env(tmp_path, token, emulator.api_url, HIPCOACH_WEBHOOK_SECRET=SECRET)
    with hipcoach_run(["--webhook-url", webhook, "--webhook-port", str(port)], env, log) as process:
        user.wait_call("setWebhook")  # the server listens before the webhook is set
        assert wait_healthy(f"http://127.0.0.1:{port}") == {"database": "ok", "dispatcher": "ok"}
        assert post_update(user, webhook, "/start").status_code == 200  # answered once handled
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False, timeout=10)
        assert samples(scrape.text)[("hipcoach_updates_handled_total", (("outcome", "ok"),))] == 1
        code = terminate(process)
    assert code == 0, log.read_text()
    with pytest.raises(httpx.ConnectError):
        post_update(user, webhook, "/help")
    (reply,) = user.replies(1)
    assert "Hip Coach" in as_seen(reply)[0]
    messages = [line["message"] for line in log_lines(log)]
    assert "stopping: no new updates; finishing the turns in flight" in messages
    assert messages[-1] == "stopped cleanly"
    assert_private(log, token, SECRET)


def post_update(user: EmulatedUser, url: str, text: str) -> httpx.Response:
    """What Telegram would POST for a command typed by `user`, with the webhook's secret."""
    chat = {"id": user.user_id, "type": "private", "first_name": "Sam"}
    message = {"message_id": 1, "date": 1_796_000_000, "chat": chat, "from": user.me, "text": text}
    message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    return httpx.post(url, json={"update_id": 1, "message": message}, headers=headers, trust_env=False)
