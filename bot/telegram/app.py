"""The coach as a Telegram bot (python-telegram-bot 22): application, command menu, polling, webhook."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import signal
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest
from tornado.httpserver import HTTPServer

from hipcoach.bot import bootstrap
from hipcoach.bot.coach import Coach, Staff
from hipcoach.bot.delivery import rate_limit
from hipcoach.bot.delivery.dispatcher import Dispatcher
from hipcoach.bot.entrypoints import ops
from hipcoach.bot.files.animation_store import FileIds, MemoryFileIds, SqlFileIds
from hipcoach.bot.telegram.adapter import TelegramAdapter, on_error
from hipcoach.bot.telegram.live_keyboards import LiveKeyboards, MemoryLiveKeyboards, SqlLiveKeyboards
from hipcoach.bot.telegram.sender import Sleep, TelegramNotifier, TelegramSender
from hipcoach.bot.telegram.startup import unreachable, until_reached

log = logging.getLogger(__name__)

COMMANDS = (
    "start",
    "today",
    "checkin",
    "progress",
    "exercises",
    "schedule",
    "flare",
    "pause",
    "resume",
    "coach",
    "export",
    "delete",
    "help",
)
ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "callback_query", "my_chat_member"]
DISPATCH_INTERVAL = 5.0  # seconds between the dispatcher's rounds
STALE_AFTER = 3 * DISPATCH_INTERVAL  # /healthz fails when the dispatcher made no progress for this long
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def build_application(
    settings: bootstrap.Settings,
    coach: Coach,
    *,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Application:
    """A PTB application whose one handler hands every update to the coach; requests injectable for tests."""
    builder = Application.builder().token(settings.telegram_token or "").base_url(settings.telegram_api_url)
    # The overall rate is our limiter's alone (HIPCOACH_SEND_RATE, shared by every replica); PTB's limiter
    # keeps only its per-group limit (20 a minute) for the one-line answer in a group chat.
    builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=0))
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    application = builder.build()
    # One send rate for every replica on the database (the limiter sleeps for real, not with `sleep`).
    limiter = rate_limit.limiter_for(getattr(coach.storage, "engine", None), settings.send_rate)
    sender = TelegramSender(
        application.bot,
        coach.storage.mark_inactive,
        sleep,
        limiter=limiter,
        file_ids=_file_ids(coach),
        keyboards=_live_keyboards(coach),
    )
    coach.animation_kind = "mp4"  # what sendAnimation takes best; the terminal shows GIFs
    application.bot_data["sender"] = sender
    if settings.coach_chat_id is not None:
        coach.staff = Staff(TelegramNotifier(sender, settings.coach_chat_id), coach.staff.admin_ids)
    adapter = TelegramAdapter(coach, sender)

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The adapter's answer, with the update and user ids on every log line written meanwhile."""
        user = update.effective_user
        with ops.log_fields(update_id=update.update_id, user_id=user.id if user else None):
            await adapter.on_update(update, context)

    application.add_handler(TypeHandler(Update, on_update))
    application.add_error_handler(on_error)
    return application


def _file_ids(coach: Coach) -> FileIds:
    """Animation file ids in the database when the storage has one, shared by every replica."""
    storage = coach.storage
    if hasattr(storage, "sessions") and hasattr(storage, "writing"):
        return SqlFileIds(storage.sessions, storage.writing)
    return MemoryFileIds()


def _live_keyboards(coach: Coach) -> LiveKeyboards:
    """Live keyboards on the users' rows when the storage has a database, shared by every replica."""
    storage = coach.storage
    if hasattr(storage, "sessions") and hasattr(storage, "writing"):
        return SqlLiveKeyboards(storage.sessions, storage.writing)
    return MemoryLiveKeyboards()


async def announce_commands(application: Application, coach: Coach) -> None:
    """Set the command menu; the bot still serves if Telegram refuses it (not if it is unreachable)."""
    commands = [BotCommand(name, coach.content.message(f"command_{name}")) for name in COMMANDS]
    sender: TelegramSender = application.bot_data["sender"]
    try:
        await sender.call(lambda: application.bot.set_my_commands(commands))
    except TelegramError as error:
        if unreachable(error):
            raise
        log.warning("command menu not set: %s", type(error).__name__)


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set `stop` on SIGINT or SIGTERM while inside the block."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class WebhookHandler(tornado.web.RequestHandler):
    """Telegram's POSTs: refused with 403 without the secret token, else handled, then answered."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, telegram: Application, secret: str) -> None:
        self.telegram = telegram
        self.secret = secret

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.set_status(403)
            return
        if not self.telegram.running:  # stopping: Telegram delivers it again, here or to another replica
            self.set_status(503)
            return
        try:
            update = Update.de_json(json.loads(self.request.body), self.telegram.bot)
        except Exception as error:  # the body may be anything: its type is all we log
            log.warning("webhook: unreadable update error=%s", type(error).__name__)
            self.set_status(400)
            return
        # Answered once the turn is committed: an update a crash cuts short gets no 200, so Telegram
        # delivers it again (a queued update would be lost). Turns still run as many at a time as
        # queued ones did (the update processor); Application.stop() waits for the task.
        turn = self.telegram.update_processor.process_update(update, self.telegram.process_update(update))
        await asyncio.shield(self.telegram.create_task(turn, update=update))


async def start_receiving(
    application: Application,
    settings: bootstrap.Settings,
    ops_routes: ops.Routes,
    servers: list[HTTPServer],
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Long polling, or a webhook server that checks Telegram's secret token on every request.

    /healthz and /metrics are served on the webhook's port, and on the metrics port if one is set.
    Each server is added to `servers` as soon as it listens. Telegram unreachable is waited for.
    """
    if settings.metrics_port is not None:
        servers.append(await ops.serve(ops_routes, settings.webhook_listen, settings.metrics_port))
    if not settings.webhook_url:
        updater = application.updater
        assert updater is not None
        # Polling starts with a deleteWebhook whose failure PTB logs with a traceback: asked here first,
        # so an unreachable Telegram is one line a try; the race left (it fails just after) is retried.
        await until_reached(application.bot.delete_webhook, sleep)
        await until_reached(lambda: updater.start_polling(allowed_updates=ALLOWED_UPDATES), sleep)
        log.info("polling for updates")
        return
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    path = "/" + urlsplit(settings.webhook_url).path.strip("/")
    rules: ops.Routes = [(path, WebhookHandler, {"telegram": application, "secret": secret}), *ops_routes]
    servers.append(await ops.serve(rules, settings.webhook_listen, settings.webhook_port))
    sender: TelegramSender = application.bot_data["sender"]
    await until_reached(
        lambda: sender.call(
            lambda: application.bot.set_webhook(
                url=settings.webhook_url,
                allowed_updates=ALLOWED_UPDATES,
                secret_token=secret,
                max_connections=40,
            )
        ),
        sleep,
    )
    log.info("webhook set")


async def serve_telegram(
    settings: bootstrap.Settings,
    *,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    sleep: Sleep = asyncio.sleep,
) -> int:
    """Serve the coach on Telegram until SIGINT or SIGTERM, then finish what is in flight and stop.

    The signals are caught from the start: one that comes during startup cuts it short, and whatever
    had started is stopped and released as it would be after serving. Telegram unreachable at start is
    waited for (bot/telegram/startup.py); a token it refuses ends the start with 2. Requests and sleep
    are injectable for tests.
    """
    stop = asyncio.Event()
    with stop_on_signals(stop):
        try:
            async with AsyncExitStack() as started:
                startup = start_serving(
                    settings, stop, started, request=request, updates_request=updates_request, sleep=sleep
                )
                if await unless_stopped(stop, startup):
                    await stop.wait()
                    log.info("stopping: no new updates; finishing the turns in flight")
                else:
                    log.info("stopping: the signal came during startup")
        except InvalidToken:  # its text holds the token: never logged
            log.error("telegram refused TELEGRAM_BOT_TOKEN (InvalidToken): check it with @BotFather")
            return 2
    log.info("stopped cleanly")
    return 0


async def start_serving(
    settings: bootstrap.Settings,
    stop: asyncio.Event,
    started: AsyncExitStack,
    sleep: Sleep = asyncio.sleep,
    **requests: BaseRequest | None,
) -> None:
    """Start coach, bot, dispatcher and servers, each one's release pushed on `started` once it exists.

    Each request to Telegram before serving is asked again while Telegram is unreachable.
    """
    coach = await bootstrap.build_coach(settings)
    started.push_async_callback(coach.storage.engine.dispose)
    metrics = ops.Metrics()
    coach.observer = metrics
    application = build_application(settings, coach, sleep=sleep, **requests)
    started.push_async_callback(application.bot.shutdown)  # its HTTP clients, even if getMe never answered
    await until_reached(application.bot.initialize, sleep)  # getMe: once it answers, initialize asks no more
    application = await started.enter_async_context(application)
    await until_reached(lambda: announce_commands(application, coach), sleep)
    dispatcher = Dispatcher(coach, application.bot_data["sender"], retention=settings.retention)
    prompts = asyncio.create_task(dispatcher.run_forever(stop, DISPATCH_INTERVAL))
    servers: list[HTTPServer] = []
    started.push_async_callback(finish, application, servers, prompts)
    started.callback(stop.set)  # before finish (last in, first out): the dispatcher ends after its round
    await application.start()
    health = ops.Health(coach.storage.engine, dispatcher.since_heartbeat, STALE_AFTER)
    await start_receiving(
        application, settings, ops.routes(metrics, health, coach.storage.engine), servers, sleep
    )


async def unless_stopped(stop: asyncio.Event, startup: Coroutine[Any, Any, None]) -> bool:
    """Run `startup`, cancelled if `stop` is set first; True if it ran to the end. Its errors are raised."""
    task = asyncio.create_task(startup)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        task.cancel()  # nothing if it has ended
        await asyncio.wait((task,))
    if task.cancelled():
        return False
    task.result()
    return True


async def finish(application: Application, servers: list[HTTPServer], prompts: asyncio.Task) -> None:
    """Take no new updates, finish the turns in flight and the dispatcher's prompt, then close the servers."""
    for server in servers:
        server.stop()  # no new connections; a webhook post on an open one is refused with 503
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    # Every update already received is handled and answered; the dispatcher ends after its prompt.
    stopping = [application.stop()] if application.running else []  # not running: startup cut short
    await asyncio.gather(*stopping, prompts)
    for server in servers:
        await server.close_all_connections()
