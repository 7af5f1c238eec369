"""Operations: Prometheus metrics, the health check, JSON log lines, and the HTTP routes that serve them."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import tornado.web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tornado.httpserver import HTTPServer

from hipcoach.bot.storage.db import reading
from hipcoach.bot.storage.models import Outbox, SafetyEvent, SendSlot, User

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0  # seconds a health check or a metrics scrape waits for the database
PROBE_SECOND = datetime(1970, 1, 1, tzinfo=UTC)  # the health check's send slot: never a real second
SQLITE_BUSY = 5  # another connection holds SQLite's write lock


class Metrics:
    """The bot's Prometheus metrics in a registry of their own; also the coach's observer.

    Only counts and durations: nothing here can carry what anyone said.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.updates_handled = Counter(
            "hipcoach_updates_handled", "Telegram updates whose turn ran, by outcome", ["outcome"], registry=r
        )
        for outcome in ("ok", "error"):
            self.updates_handled.labels(outcome)  # both series exist from the start, at zero
        self.turn_seconds = Histogram(
            "hipcoach_turn_seconds", "Time one update's turn took: load, decide, commit", registry=r
        )
        self.prompts_due = Counter("hipcoach_prompts_due", "Due prompts the dispatcher took up", registry=r)
        self.prompts_sent = Counter(
            "hipcoach_prompts_sent", "Queued messages the dispatcher delivered (outbox rows)", registry=r
        )
        self.prompts_failed = Counter(
            "hipcoach_prompts_failed", "Failed deliveries of queued messages (tried again later)", registry=r
        )
        self.sends_unconfirmed = Counter(
            "hipcoach_sends_unconfirmed",
            "Messages that got no answer from Telegram (timeout, crash): maybe delivered, never repeated",
            registry=r,
        )
        self.outbox_depth = Gauge(
            "hipcoach_outbox_depth", "Outbox rows not yet delivered (pending or being sent)", registry=r
        )
        self.users_blocked = Gauge(
            "hipcoach_users_blocked", "Users who blocked the bot and are sent nothing", registry=r
        )
        self.safety_events = Gauge(
            "hipcoach_safety_events",
            "Safety events stored, by tier (counts only, never text)",
            ["tier"],
            registry=r,
        )

    # The coach's observer (bot.coach.Observer).

    def turn(self, ok: bool, seconds: float) -> None:
        self.updates_handled.labels("ok" if ok else "error").inc()
        self.turn_seconds.observe(seconds)

    def prompt_due(self) -> None:
        self.prompts_due.inc()

    def delivered(self, ok: bool) -> None:
        (self.prompts_sent if ok else self.prompts_failed).inc()

    def unconfirmed(self) -> None:
        self.sends_unconfirmed.inc()

    async def refresh(self, engine: AsyncEngine, timeout: float = DATABASE_TIMEOUT) -> None:
        """Read the gauges from the database (two cheap counts); on failure they keep their last values."""

        async def count() -> tuple[int, int, list[tuple[str, int]]]:
            undelivered = select(func.count()).where(Outbox.status.in_(("pending", "sending")))
            blocked = select(func.count()).where(User.active.is_(False))
            async with reading(engine) as connection:  # on SQLite, no wait behind a long write
                tiers = select(SafetyEvent.tier, func.count()).group_by(SafetyEvent.tier)
                by_tier = [(tier, n) for tier, n in (await connection.execute(tiers)).all()]
                return (
                    await connection.scalar(undelivered) or 0,
                    await connection.scalar(blocked) or 0,
                    by_tier,
                )

        try:
            depth, blocked, by_tier = await asyncio.wait_for(count(), timeout)
        except Exception as error:  # the scrape still answers, with the last values
            log.warning("metrics not refreshed error=%s", type(error).__name__)
            return
        self.outbox_depth.set(depth)
        self.users_blocked.set(blocked)
        for tier, events in by_tier:
            self.safety_events.labels(tier).set(events)

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)


class Health:
    """Can the database be read and written, and has the dispatcher made progress recently?"""

    def __init__(
        self,
        engine: AsyncEngine,
        dispatcher_age: Callable[[], float | None],
        stale_after: float,
        timeout: float = DATABASE_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.dispatcher_age = dispatcher_age
        self.stale_after = stale_after
        self.timeout = timeout

    async def check(self) -> dict[str, str]:
        """Each part's state: "ok", or what is wrong with it."""
        return {"database": await self._database(), "dispatcher": self._dispatcher()}

    async def _database(self) -> str:
        async def select_one() -> None:
            async with reading(self.engine) as connection:  # on SQLite, no wait behind a long write
                await connection.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(select_one(), self.timeout)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as error:  # the message may quote the URL and its password: the type only
            return f"unreachable: {type(error).__name__}"
        try:
            await asyncio.wait_for(write_probe(self.engine), self.timeout)
        except TimeoutError:
            return f"no write within {self.timeout:g} s"
        except Exception as error:
            return f"not writable: {type(error).__name__}"
        return "ok"

    def _dispatcher(self) -> str:
        age = self.dispatcher_age()
        if age is None:
            return "not started"
        if age > self.stale_after:
            return f"stale: no progress for {age:.0f} s"
        return "ok"


async def write_probe(engine: AsyncEngine) -> None:
    """Commit a write that leaves nothing behind: a send slot added and removed; raises if it cannot.

    A database that answers reads may still refuse every turn's commit (a full disk, a read-only
    file or server), so the health check writes for real: a rolled-back write never reaches the
    disk on SQLite. On SQLite it does not wait for the write lock: while another connection holds
    it, someone is writing, and that is enough (a long write must not turn /healthz to 503).
    """
    async with reading(engine) as connection:
        sqlite = engine.dialect.name == "sqlite"
        waits = await connection.scalar(text("PRAGMA busy_timeout")) if sqlite else None
        if sqlite:
            await connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            await connection.execute(insert(SendSlot).values(second=PROBE_SECOND, used=0))
            await connection.execute(delete(SendSlot).where(SendSlot.second == PROBE_SECOND))
            await connection.commit()
        except OperationalError as error:
            if getattr(error.orig, "sqlite_errorcode", None) != SQLITE_BUSY:
                raise
        finally:
            if sqlite:
                await _restore_busy_timeout(connection, int(waits or 0))


async def _restore_busy_timeout(connection: AsyncConnection, milliseconds: int) -> None:
    """Give the pooled connection its busy timeout back, or drop it from the pool."""
    try:
        await connection.rollback()
        await connection.exec_driver_sql(f"PRAGMA busy_timeout={milliseconds}")
    except BaseException:
        await connection.invalidate()
        raise


# Log lines


_log_fields: ContextVar[Mapping[str, Any] | None] = ContextVar("hipcoach_log_fields", default=None)
_RECORD_ATTRIBUTES = {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"}


@contextmanager
def log_fields(**fields: Any) -> Iterator[None]:
    """Add fields (update_id, user_id, ...) to every JSON log line written inside the block."""
    known = {name: value for name, value in fields.items() if value is not None}
    token = _log_fields.set({**(_log_fields.get() or {}), **known})
    try:
        yield
    finally:
        _log_fields.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the fields and extras in force.

    An exception is shown by its type and traceback only: its message may quote what a user said.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **(_log_fields.get() or {}),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, default=str)


# HTTP


class HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 when every part is ok, else 503; the body names each part's state."""

    def initialize(self, health: Health) -> None:
        self.health = health

    async def get(self) -> None:
        report = await self.health.check()
        self.set_status(200 if all(state == "ok" for state in report.values()) else 503)
        self.write(report)


class MetricsHandler(tornado.web.RequestHandler):
    """GET /metrics: Prometheus's text format, the gauges read from the database first."""

    def initialize(self, metrics: Metrics, engine: AsyncEngine) -> None:
        self.metrics = metrics
        self.engine = engine

    async def get(self) -> None:
        await self.metrics.refresh(self.engine)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.write(self.metrics.exposition())


Routes = list[tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]]


def routes(metrics: Metrics, health: Health, engine: AsyncEngine) -> Routes:
    return [
        (r"/healthz", HealthHandler, {"health": health}),
        (r"/metrics", MetricsHandler, {"metrics": metrics, "engine": engine}),
    ]


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """No access log: health checks every few seconds would drown the rest."""


async def serve(rules: Routes, listen: str, port: int) -> HTTPServer:
    """An HTTP server for `rules` on `listen`:`port`, running on the current event loop."""
    server = HTTPServer(tornado.web.Application(rules, log_function=_quiet))
    server.listen(port, address=listen)
    log.info("http listening on %s:%s paths=%s", listen, port, " ".join(rule[0] for rule in rules))
    return server
