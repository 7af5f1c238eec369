"""What the proofs share: PostgreSQL, users seeded from the real engine, `hipcoach run` processes, an nginx
entry point, Telegram's side of the webhook (updates posted, redelivered until accepted) and scripted users.

Everything listens on 127.0.0.1 only, every wait is bounded, and everything started is stopped on the
way out, also when a proof fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hipcoach.bot.bootstrap import load_content
from hipcoach.bot.coach import Coach
from hipcoach.bot.storage.db import make_engine, upgrade
from hipcoach.bot.storage.models import USER_TABLES, User
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from hipcoach.content.schema import Content
from hipcoach.flows import Choice, Command, Due, Event, State, Text, render_all, step
from hipcoach.flows.machine import STATES
from tests.fakes import said
from tests.postgres import PostgresUnavailable, fresh_database, postgres_server
from tests.proofs.balancer import Balancer, balancing
from tests.proofs.fake_telegram import BOT_ID, HOST, FakeTelegram, Sent

ROOT = Path(__file__).resolve().parents[2]
TOKEN = f"{BOT_ID}:proof-token"
SECRET = "proof_webhook-secret"
WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
START_TIMEOUT = 60.0  # seconds for a bot to open its webhook port
STOP_TIMEOUT = 30.0  # seconds for a bot to stop on SIGTERM before it is killed

# The onboarding a template user goes through; the session time is filled in to make a prompt due.
ONBOARDING = [
    Text("hi"), Choice("consent:yes"), Choice("red_flags_urgent:no"), Choice("red_flags_clinician:no"),
    Choice("load_pain:no"), Choice("kneeling_ok:yes"), Choice("knee_issues:no"), Choice("equipment:none"),
    Choice("goal_activity:0"), Choice("goal_rating:7"), Choice("session:done"), Choice("checkin_pain:2"),
    Choice("checkin_effort:ok"), Choice("checkin_control:smooth"), Text("every day"),
]  # fmt: skip


class ProofFailed(RuntimeError):
    """Something the proof needs did not happen (a server did not start, a wait ran out)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- PostgreSQL --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def postgres(server: str | None = None) -> AsyncIterator[str]:
    """A fresh database on `server`, else on the tests' own PostgreSQL (see tests/postgres.py)."""
    with contextlib.ExitStack() as stack:
        if server is None:
            try:
                server = stack.enter_context(postgres_server())
            except PostgresUnavailable as error:
                raise ProofFailed(f"no PostgreSQL: {error}") from error
        async with fresh_database(server) as url:
            yield url


@contextlib.asynccontextmanager
async def database_outage(url: str) -> AsyncIterator[tuple[str, Balancer]]:
    """`url` reached through a balancer that can cut the database off (a stopped server, a blocked port)."""
    parsed = make_url(url)
    async with balancing([(parsed.host or HOST, parsed.port or 5432)]) as (switch, port):
        yield parsed.set(host=HOST, port=port).render_as_string(hide_password=False), switch


# ---- users, seeded in bulk from one user the engine onboarded -----------------------------------


@dataclass(frozen=True)
class Seeded:
    """What the users were given: the template's state (idle, scheduled) and its one due session prompt."""

    user_ids: range
    state: State
    session_due: datetime
    check_ins: int  # check-in rows each user starts with (from onboarding)


async def seed_users(url: str, user_ids: range, session_due: datetime, content: Content) -> Seeded:
    """Onboard `user_ids[0]` with the real engine and storage, then copy its rows to every other user.

    The template onboards an hour before `session_due` and picks a daily session at that minute, so
    the engine itself leaves it idle with that session prompt pending; every copy is the same user
    under another id (state, screening answers, rung, check-in, goal rating, prompts).
    """
    session_due = session_due.replace(second=0, microsecond=0)
    onboarded = session_due - timedelta(hours=1)
    summary_day = (session_due.weekday() + 3) % 7  # the weekly summary falls outside the run
    engine = make_engine(url)
    storage = SqlStorage(engine)
    try:
        coach = Coach(storage, SqlReports(engine), content, lambda: onboarded)
        template = user_ids[0]
        script = [
            *ONBOARDING,
            Text(session_due.strftime("%H:%M")),
            Choice("schedule_zone:utc"),
            Choice(f"schedule_summary_day:{summary_day}"),
            Choice("schedule_confirm:yes"),
        ]
        for event in script:
            await said(coach, template, event)
        state = await storage.load_state(template)
        async with engine.begin() as connection:
            due = (
                await connection.execute(
                    text("SELECT due_at FROM prompts WHERE user_id = :u AND kind = 'session'"),
                    {"u": template},
                )
            ).scalar_one()
            if state.name != "idle" or as_utc(due) != session_due:
                raise ProofFailed(
                    f"template user is {state.name} with a session due {due}, not {session_due}"
                )
            await _copy_user(connection, template, user_ids[1], user_ids[-1])
            check_ins = (
                await connection.execute(
                    text("SELECT count(*) FROM check_ins WHERE user_id = :u"), {"u": template}
                )
            ).scalar_one()
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await storage.close()
    return Seeded(user_ids, state, session_due, check_ins)


# The ids first..last as a row source `g`: generate_series on PostgreSQL, a counting CTE on SQLite.
SERIES = {
    "postgresql": ("", "generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g"),
    "sqlite": (
        "WITH RECURSIVE ids(g) AS (SELECT :first UNION ALL SELECT g + 1 FROM ids WHERE g < :last) ",
        "ids",
    ),
}


def as_utc(value: datetime | str) -> datetime:
    """A timestamp read with plain SQL: PostgreSQL gives an aware datetime, SQLite naive UTC text."""
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


async def _copy_user(connection: Any, template: int, first: int, last: int) -> None:
    """Every row of `template`, once for each id in first..last."""
    prefix, series = SERIES[connection.dialect.name]
    for table in [User, *USER_TABLES]:
        key = "id" if table is User else "user_id"
        columns = [c.name for c in table.__table__.columns if c.name != key and c.name != "id"]
        names = ", ".join(f'"{c}"' for c in columns)
        await connection.execute(
            text(
                f'INSERT INTO {table.__tablename__} ("{key}", {names}) {prefix}'
                f"SELECT g, {names} FROM {table.__tablename__}, {series} "
                f'WHERE "{key}" = :template'
            ),
            {"first": first, "last": last, "template": template},
        )


# ---- the conversation a scheduled user has, as the engine decides it ----------------------------

ANSWERS = {
    "session_offer": Choice("session_offer:start"),
    "session": Choice("session:done"),
    "checkin_pain": Choice("checkin_pain:2"),
    "checkin_effort": Choice("checkin_effort:ok"),
    "checkin_control": Choice("checkin_control:smooth"),
}
DOUBLE_TAP = ANSWERS["checkin_control"]  # the same button, tapped twice before the keyboard goes


@dataclass(frozen=True)
class Transcript:
    """What a seeded user sees from their due prompt through one check-in, computed by the pure engine."""

    prompt: str  # the session prompt's text
    ack: str  # the first message answering the last check-in answer
    replies: tuple[int, ...]  # messages per turn: the prompt, then one per answer
    questions: tuple[str, ...]  # the question each turn ends on (its buttons' prefix)
    stale: int  # messages answering a button pressed after its question moved on


def question_of(message: Sent) -> str:
    return message.buttons[0].partition(":")[0] if message.buttons else ""


def transcript(
    seeded: Seeded, content: Content, now: datetime, answers: dict[str, Event] = ANSWERS
) -> Transcript:
    outcome = step(seeded.state, Due("session", 1, seeded.session_due), now, content)
    turns = [render_all(outcome.replies, content)]
    state = outcome.state
    while state.name in answers:
        outcome = step(state, answers[state.name], now, content)
        turns.append(render_all(outcome.replies, content))
        state = outcome.state
    stale = render_all(step(state, DOUBLE_TAP, now, content).replies, content)
    questions = tuple(
        m.buttons[0][0][1].partition(":")[0] for m in (turn[-1] for turn in turns)
    )  # as question_of
    return Transcript(turns[0][0].text, turns[-1][0].text, tuple(map(len, turns)), questions, len(stale))


# ---- hipcoach run, as processes ------------------------------------------------------------------


@dataclass
class BotProcess:
    """`hipcoach run` in webhook mode on its own port; its log goes to a file."""

    name: str
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "hipcoach.bot",
            "run",
            "--webhook-url",
            self.env["HIPCOACH_WEBHOOK_URL"],
        ]
        args += ["--webhook-port", str(self.port)]
        with self.log_path.open("a") as output:
            output.write(f"--- start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n")
            output.flush()
            self.process = subprocess.Popen(
                args, env=self.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until the webhook port accepts connections (the bot has started and set its webhook)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ProofFailed(f"{self.name} exited while starting; see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=1):
                return
            await asyncio.sleep(0.05)
        raise ProofFailed(
            f"{self.name} did not open port {self.port} in {timeout:.0f} s; see {self.log_path}"
        )

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    async def stop(self) -> int | None:
        """SIGTERM, as systemd or docker would; killed if it does not stop in time. Returns the exit code."""
        if self.process is None:
            return None
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.running and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if self.running:
                self.kill()
        return self.process.wait(timeout=STOP_TIMEOUT)


def bot_env(
    workdir: Path, database_url: str, api_url: str, webhook_url: str, send_rate: int
) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir),
        "MPLCONFIGDIR": str(workdir / "mpl"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "HIPCOACH_DATABASE_URL": database_url,
        "HIPCOACH_AUTO_MIGRATE": "0",  # migrated once, before any replica starts
        "HIPCOACH_WEBHOOK_URL": webhook_url,
        "HIPCOACH_WEBHOOK_SECRET": SECRET,
        "HIPCOACH_WEBHOOK_LISTEN": HOST,
        "HIPCOACH_SEND_RATE": str(send_rate),
        "HIPCOACH_LOG_LEVEL": "WARNING",
    }


@contextlib.asynccontextmanager
async def bots(
    ports: Sequence[int], workdir: Path, database_url: str, api_url: str, webhook_url: str, send_rate: int
) -> AsyncIterator[list[BotProcess]]:
    """A bot on each port, started and ready; all stopped (SIGTERM, then SIGKILL) on the way out."""
    env = bot_env(workdir, database_url, api_url, webhook_url, send_rate)
    replicas = [BotProcess(f"bot{n}", env, port, workdir / f"bot{n}.log") for n, port in enumerate(ports, 1)]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            await replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            with contextlib.suppress(Exception):
                await replica.stop()


# ---- nginx: the one entry point ------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream replicas {{
{servers}
        keepalive 16;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Debian's nginx, installed with apt-get if missing (needs root)."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found:
        return found
    if os.geteuid() != 0:
        raise ProofFailed("nginx is not installed and only root may apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "nginx-light"]):
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise ProofFailed("apt-get installed nginx, but no nginx binary was found")
    return found


@contextlib.contextmanager
def nginx(ports: Sequence[int], port: int) -> Iterator[str]:
    """nginx on 127.0.0.1:`port`, round-robin over the replicas; yields its base URL."""
    directory = Path(tempfile.mkdtemp(prefix="hipcoach-nginx-"))
    os.chmod(directory, 0o755)
    servers = "\n".join(f"        server {HOST}:{p} max_fails=0;" for p in ports)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, servers=servers, host=HOST, port=port))
    binary = nginx_binary()
    process = subprocess.Popen(
        [
            binary,
            "-p",
            str(directory),
            "-e",
            str(directory / "error.log"),
            "-c",
            str(conf),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise ProofFailed(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise ProofFailed("nginx did not start")
            time.sleep(0.05)
        yield f"http://{HOST}:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish proxied requests
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def entry_point(ports: Sequence[int], *, balancer: bool = False) -> AsyncIterator[str]:
    """The one address Telegram posts to: nginx, or our own balancer (tests/proofs/balancer.py, no nginx
    needed, as in CI); yields its base URL."""
    if balancer:
        async with balancing([(HOST, p) for p in ports]) as (_, port):
            yield f"http://{HOST}:{port}"
    else:
        with nginx(ports, free_port()) as url:
            yield url


# ---- Telegram's side of the webhook, and the users ----------------------------------------------


WEBHOOK_FAULTS = ("drop", "timeout", "redeliver")


@dataclass(frozen=True)
class WebhookFaults:
    """Which deliveries go wrong on Telegram's side, decided per update and attempt from a seed:

    - `drop`: the update is posted and the connection closed before any answer is read;
    - `timeout`: the update is posted and its answer not waited for beyond `timeout` seconds;
    - `redeliver`: the update is accepted, then posted once more (same update_id), as Telegram does
      when it did not see the answer.
    """

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = WEBHOOK_FAULTS
    timeout: float = 0.05

    def decide(self, update_id: int, attempt: int) -> str:
        if self.rate <= 0:
            return "ok"
        draw = random.Random(f"{self.seed}|webhook|{update_id}|{attempt}")
        return draw.choice(self.kinds) if draw.random() < self.rate else "ok"


@dataclass
class Webhook:
    """Posts updates as Telegram does: with the secret, redelivered (same update_id) until answered 2xx."""

    api: FakeTelegram
    url: str
    client: httpx.AsyncClient
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    # Telegram holds at most this many webhook requests open at once (set_webhook's max_connections).
    connections: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(40))
    redeliveries: int = 0
    accepted: set[int] = field(default_factory=set)  # update ids answered 2xx at least once
    posted: dict[int, int] = field(default_factory=dict)  # update id -> user id
    answers: Counter[str] = field(default_factory=Counter)  # "200", "503", "none" (no answer), per post
    faulted: Counter[str] = field(default_factory=Counter)  # deliveries spoiled on purpose, per kind
    slowest: float = 0.0  # seconds of the slowest answer read
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_000_000))

    def press(self, user_id: int, value: str) -> dict[str, Any]:
        """A press of the newest button with this callback data in the user's chat."""
        message = next(
            (m for m in reversed(self.api.messages(user_id)) if value in m.buttons),
            None,
        )
        message_id, shown = (message.message_id, message.text) if message else (1, "")
        update_id = next(self.ids)
        chat = {"id": user_id, "type": "private", "first_name": "Sam"}
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq{update_id}",
                "from": _user(user_id),
                "chat_instance": f"ci{user_id}",
                "data": value,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": chat,
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Hip Coach"},
                    "text": shown,
                },
            },
        }

    def say(self, user_id: int, words: str) -> dict[str, Any]:
        update_id = next(self.ids)
        chat = {"id": user_id, "type": "private", "first_name": "Sam"}
        message = {"message_id": update_id, "date": int(time.time()), "chat": chat, "from": _user(user_id)}
        return {"update_id": update_id, "message": {**message, "text": words}}

    async def deliver(self, update: dict[str, Any], deadline: float) -> bool:
        """POST until a 2xx (Telegram retries failed deliveries) or the deadline; True if accepted."""
        user = (update.get("callback_query") or update.get("message") or {}).get("from", {}).get("id")
        self.posted[update["update_id"]] = user
        pause = 0.1
        for attempt in itertools.count():
            if time.monotonic() >= deadline:
                return False
            if attempt:
                self.redeliveries += 1
            fault = self.faults.decide(update["update_id"], attempt)
            async with self.connections:
                status = await self._post(update, fault)
            if status is not None and 200 <= status < 300:
                self.accepted.add(update["update_id"])
                if fault == "redeliver":
                    self.faulted[fault] += 1
                    async with self.connections:
                        await self._post(update, "ok")
                return True
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
        return False

    async def _post(self, update: dict[str, Any], fault: str) -> int | None:
        """One delivery: the answer's status, or None when no answer was read."""
        if fault in ("drop", "timeout"):
            self.faulted[fault] += 1
        try:
            if fault == "drop":
                await self._post_and_hang_up(update)
                status = None
            else:
                read = self.faults.timeout if fault == "timeout" else 60
                began = time.monotonic()
                response = await self.client.post(
                    self.url,
                    json=update,
                    headers={SECRET_HEADER: SECRET},
                    timeout=httpx.Timeout(60, read=read),
                )
                status = response.status_code
                self.slowest = max(self.slowest, time.monotonic() - began)
        except (httpx.HTTPError, OSError):
            status = None
        self.answers[str(status or "none")] += 1
        return status

    async def _post_and_hang_up(self, update: dict[str, Any]) -> None:
        """The whole request written, then the connection closed without reading a byte of the answer."""
        target = httpx.URL(self.url)
        body = json.dumps(update).encode()
        head = (
            f"POST {target.raw_path.decode()} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{SECRET_HEADER}: {SECRET}\r\nConnection: close\r\n\r\n"
        )
        _, writer = await asyncio.open_connection(target.host, target.port)
        try:
            writer.write(head.encode() + body)
            await writer.drain()
        finally:
            writer.transport.abort()


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Sam"}


def event_update(webhook: Webhook, user_id: int, event: Event) -> dict[str, Any]:
    if isinstance(event, Choice):
        return webhook.press(user_id, event.value)
    assert isinstance(event, Text)
    return webhook.say(user_id, event.text)


@dataclass
class UserRun:
    """One scripted user: what they sent and whether the bot acknowledged their check-in."""

    user_id: int
    updates: list[int] = field(default_factory=list)
    copies: int = 0  # updates posted a second time at once (redelivery)
    acknowledged: bool = False
    prompted: bool = False
    gave_up: str = ""


async def check_in(
    webhook: Webhook,
    user_id: int,
    plan: Transcript,
    answers: dict[str, Event],
    *,
    prompt_timeout: float,
    step_timeout: float,
    max_updates: int,
    redeliver: Callable[[], bool] = lambda: False,
    double_tap: bool = False,
) -> UserRun:
    """Wait for the session prompt, then answer whatever question the chat shows last, until the bot
    acknowledges the check-in. A reply that does not come (its update lost) makes the user answer again.
    """
    run = UserRun(user_id)
    api = webhook.api
    run.prompted = await api.wait_for(
        user_id, lambda ms: any(m.text == plan.prompt for m in ms), prompt_timeout
    )
    if not run.prompted:
        run.gave_up = "no prompt"
        return run
    while len(run.updates) < max_updates:
        messages = api.messages(user_id)
        if any(m.text == plan.ack for m in messages):
            run.acknowledged = True
            return run
        shown = next((m for m in reversed(messages) if m.buttons), None)
        question = question_of(shown) if shown else ""
        if question not in answers:
            run.gave_up = f"stuck at {question or 'no question'}"
            return run
        seen = len(messages)
        taps = [answers[question]]
        if double_tap and question == "checkin_control":
            taps.append(DOUBLE_TAP)
        deadline = time.monotonic() + step_timeout
        updates = [event_update(webhook, user_id, tap) for tap in taps]
        copies = [u for u in updates for _ in range(2 if redeliver() else 1)]
        run.updates += [u["update_id"] for u in updates]
        run.copies += len(copies) - len(updates)
        await asyncio.gather(*(webhook.deliver(u, deadline) for u in copies))
        expected = len(taps)
        await api.wait_for(
            user_id,
            lambda ms, seen=seen, expected=expected: sum(1 for m in ms[seen:] if m.buttons) >= expected,
            max(deadline - time.monotonic(), 0.5),
        )
    run.gave_up = "too many updates"
    return run


async def wait_until(done: Callable[[], Any], timeout: float, every: float = 0.5) -> bool:
    """Poll an async or plain condition until true or `timeout` seconds; True if it became true."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)


# ---- the database's view, for the counts -----------------------------------------------------------


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


def sent_by_chat(api: Any, text: str) -> Counter[int]:
    """How many times each chat was sent this text."""
    return Counter(s.chat_id for s in api.sent if s.text == text)


async def check_ins_since(engine: AsyncEngine, moment: datetime) -> dict[int, int]:
    """Check-ins recorded after `moment`, by user."""
    query = "SELECT user_id, count(*) FROM check_ins WHERE checked_in_at > :seeded GROUP BY user_id"
    return dict(await rows(engine, query, seeded=moment))


async def processed_updates(engine: AsyncEngine) -> set[int]:
    return {update_id for (update_id,) in await rows(engine, "SELECT update_id FROM processed_updates")}


async def invalid_states(engine: AsyncEngine, content: Content) -> int:
    """Users whose state the engine cannot take a turn on, or whose name is no state of the machine."""
    invalid = 0
    now = utc_now()
    for name, data in await rows(engine, "SELECT name, data FROM dialogue_states"):
        try:
            data = json.loads(data) if isinstance(data, str) else data  # SQLite gives JSON as text
            step(State.from_json({"name": name, "data": data}), Command("help"), now, content)
            invalid += name not in STATES
        except Exception:
            invalid += 1
    return invalid


async def outbox_failed(engine: AsyncEngine) -> int:
    return await scalar(engine, "SELECT count(*) FROM outbox WHERE status = 'failed'")


async def outbox_open(engine: AsyncEngine) -> int:
    return await scalar(engine, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")


@dataclass(frozen=True)
class Unconfirmed:
    """What the bot recorded as sent without an answer (and so never sent again)."""

    parts: int  # sum of outbox.unconfirmed
    texts: frozenset[tuple[int, str]]  # (user, text) of every message in a row with an unconfirmed part

    def covers(self, user_id: int, text: str) -> bool:
        return (user_id, text) in self.texts


async def unconfirmed(engine: AsyncEngine) -> Unconfirmed:
    found = await rows(engine, "SELECT user_id, payload, unconfirmed FROM outbox WHERE unconfirmed > 0")
    texts = frozenset((user, str(m["text"])) for user, payload, _ in found for m in payload)
    return Unconfirmed(sum(n for _, _, n in found), texts)


# Alembic keeps its context in module globals: two upgrades at once in one process break each other.
_migrating: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def migrate(url: str) -> None:
    """The schema, once, before any replica starts (the replicas run with HIPCOACH_AUTO_MIGRATE=0)."""
    engine = make_engine(url)
    try:
        async with _migrating.setdefault(asyncio.get_running_loop(), asyncio.Lock()):
            await upgrade(engine)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Promises:
    """A proof's counts grouped by the three promises every chaos case asserts (each must be zero)."""

    lost: tuple[str, ...]  # updates or messages lost
    doubled: tuple[str, ...]  # messages or records doubled
    invalid: tuple[str, ...]  # users left in an invalid state

    def totals(self, counts: dict[str, int]) -> dict[str, int]:
        """The sum of each promise's counts."""
        return {
            "lost": sum(counts[name] for name in self.lost),
            "doubled": sum(counts[name] for name in self.doubled),
            "invalid": sum(counts[name] for name in self.invalid),
        }


@dataclass
class SqliteLock:
    """A SQLite database's outage: another connection holds its write lock (BEGIN EXCLUSIVE) while cut."""

    path: Path
    refused: int = 0
    _holder: sqlite3.Connection | None = None

    def cut(self) -> None:
        self._holder = sqlite3.connect(self.path, isolation_level=None)
        self._holder.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None


def nonzero(counts: dict[str, int], names: tuple[str, ...]) -> list[str]:
    """`name: count` for each of `names` whose count is not zero: the broken promises among them."""
    return [f"{name}: {counts[name]}" for name in names if counts[name]]


def report(counts: dict[str, int], broken: list[str], unconfirmed: int = 0, why: str = "") -> None:
    """The counts, one a line, and the verdict; messages `unconfirmed` and not repeated are named apart."""
    width = max(map(len, counts))
    print()
    for name, value in counts.items():
        print(f"{name:<{width}}  {value}")
    if broken:
        print("\nBROKEN: " + "; ".join(broken), flush=True)
    elif unconfirmed:
        print(f"\nPROMISES KEPT; {unconfirmed} messages not delivered, at the at-most-once limit: {why}")
    else:
        print("\nPROMISES KEPT", flush=True)


def run_proof(
    name: str,
    prove: Callable[[Path], Any],
    verdict: Callable[[dict[str, int]], list[str]],
    unconfirmed: Callable[[dict[str, int]], int] = lambda counts: 0,
    why: str = "",
) -> int:
    """Run `prove(workdir)` (a coroutine), print its counts and verdict; 0 kept, 1 broken, 2 could not run.

    The work directory (logs) is removed when the promises hold and kept otherwise.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"hipcoach-{name}-"))
    try:
        counts = asyncio.run(prove(workdir))
    except ProofFailed as error:
        print(f"proof could not run: {error}; logs in {workdir}", file=sys.stderr)
        return 2
    except BaseException:
        print(f"logs kept in {workdir}", file=sys.stderr)
        raise
    broken = verdict(counts)
    report(counts, broken, unconfirmed(counts), why)
    if broken:
        print(f"logs kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def content() -> Content:
    return load_content()


def utc_now() -> datetime:
    return datetime.now(UTC)
