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

from hipcoach.bot.entrypoints import ops
from hipcoach.bot.settings import Settings
from hipcoach.bot.telegram.adapter import RECEIPT, Receipt, TelegramAdapter, on_error
from hipcoach.bot.telegram.sender import Sleep, TelegramSender
from hipcoach.bot.telegram.startup import unreachable, until_reached
from hipcoach.bot.telegram.update_order import OrderedUpdateProcessor
from hipcoach.content.schema import Content

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
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
) -> Application:
    """A PTB application with no handler yet (bot/bootstrap.py adds it); requests injectable for tests."""
    # The overall rate is our limiter's alone (HIPCOACH_SEND_RATE, shared by every replica); PTB's limiter
    # keeps only its per-group limit (20 a minute) for the one-line answer in a group chat.
    builder = (
        Application.builder()
        .token(settings.telegram_token or "")
        .base_url(settings.telegram_api_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=0))
        # Several updates at once, one chat's in order: no user waits for another's slow turn.
        .concurrent_updates(OrderedUpdateProcessor())
    )
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    return builder.build()


def handle_updates(application: Application, adapter: TelegramAdapter) -> None:
    """Hand every update to the adapter, with the update and user ids on every log line written meanwhile."""

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        with ops.log_fields(update_id=update.update_id, user_id=user.id if user else None):
            await adapter.on_update(update, context)

    application.add_handler(TypeHandler(Update, on_update))
    application.add_error_handler(on_error)


async def announce_commands(application: Application, sender: TelegramSender, content: Content) -> None:
    """Set the command menu; the bot still serves if Telegram refuses it (not if it is unreachable)."""
    commands = [BotCommand(name, content.message(f"command_{name}")) for name in COMMANDS]
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
    """Telegram's POSTs: refused with 403 without the secret token, else handled, then answered: 200 once
    the update's turn is committed, 503 when it could not be (Telegram delivers it again)."""

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
        receipt = Receipt()
        handing = RECEIPT.set(receipt)  # the task copies this context: its turn reports on the receipt
        try:
            task = self.telegram.create_task(turn, update=update)
        finally:
            RECEIPT.reset(handing)
        await asyncio.shield(task)
        if not receipt.committed:  # the database is down: Telegram delivers it again later
            log.warning("webhook: update not committed, answered 503 update=%s", update.update_id)
            self.set_status(503)


async def start_receiving(
    application: Application,
    sender: TelegramSender,
    settings: Settings,
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
    settings: Settings,
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
    settings: Settings,
    stop: asyncio.Event,
    started: AsyncExitStack,
    sleep: Sleep = asyncio.sleep,
    **requests: BaseRequest | None,
) -> None:
    """Start coach, bot, dispatcher and servers, each one's release pushed on `started` once it exists.

    Each request to Telegram before serving is asked again while Telegram is unreachable.
    """
    from hipcoach.bot import bootstrap  # it imports this module

    request, updates_request = requests.get("request"), requests.get("updates_request")
    bot = await bootstrap.build_telegram(
        settings, sleep=sleep, request=request, updates_request=updates_request
    )
    started.push_async_callback(bot.database.close)
    application = bot.application
    started.push_async_callback(application.bot.shutdown)  # its HTTP clients, even if getMe never answered
    await until_reached(application.bot.initialize, sleep)  # getMe: once it answers, initialize asks no more
    application = await started.enter_async_context(application)
    await until_reached(lambda: announce_commands(application, bot.sender, bot.coach.content), sleep)
    bootstrap.tune_garbage_collection()
    prompts = asyncio.create_task(bot.dispatcher.run_forever(stop, DISPATCH_INTERVAL))
    servers: list[HTTPServer] = []
    started.push_async_callback(finish, application, servers, prompts)
    started.callback(stop.set)  # before finish (last in, first out): the dispatcher ends after its round
    await application.start()
    await start_receiving(application, bot.sender, settings, bot.routes, servers, sleep)


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
