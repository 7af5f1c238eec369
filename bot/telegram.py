"""The coach as a Telegram bot (python-telegram-bot 22): application, command menu, polling, webhook."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, TypeHandler
from telegram.request import BaseRequest

from bot import bootstrap
from bot.coach import Coach, Staff
from bot.dispatcher import Dispatcher
from bot.telegram_adapter import TelegramAdapter, on_error
from bot.telegram_sender import Sleep, TelegramNotifier, TelegramSender

log = logging.getLogger(__name__)

COMMANDS = (
    "start",
    "today",
    "checkin",
    "progress",
    "schedule",
    "pause",
    "resume",
    "coach",
    "export",
    "delete",
    "help",
)
ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "callback_query", "my_chat_member"]


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
    builder = builder.rate_limiter(AIORateLimiter())
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    application = builder.build()
    sender = TelegramSender(application.bot, coach.storage.mark_inactive, sleep)
    application.bot_data["sender"] = sender
    if settings.coach_chat_id is not None:
        coach.staff = Staff(TelegramNotifier(sender, settings.coach_chat_id), coach.staff.admin_ids)
    application.add_handler(TypeHandler(Update, TelegramAdapter(coach, sender).on_update))
    application.add_error_handler(on_error)
    return application


async def announce_commands(application: Application, coach: Coach) -> None:
    """Set the command menu; the bot still serves if Telegram refuses it."""
    commands = [BotCommand(name, coach.content.message(f"command_{name}")) for name in COMMANDS]
    sender: TelegramSender = application.bot_data["sender"]
    try:
        await sender.call(lambda: application.bot.set_my_commands(commands))
    except TelegramError as error:
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


async def start_receiving(application: Application, settings: bootstrap.Settings) -> None:
    """Long polling, or a webhook server that checks Telegram's secret token on every request."""
    updater = application.updater
    assert updater is not None
    if not settings.webhook_url:
        await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        log.info("polling for updates")
        return
    await updater.start_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
        webhook_url=settings.webhook_url,
        secret_token=settings.webhook_secret or secrets.token_urlsafe(32),
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info("webhook listening on %s:%s", settings.webhook_listen, settings.webhook_port)


async def serve_telegram(settings: bootstrap.Settings) -> int:
    """Serve the coach on Telegram until SIGINT or SIGTERM."""
    coach = await bootstrap.build_coach(settings)
    application = build_application(settings, coach)
    try:
        async with application:
            await announce_commands(application, coach)
            await application.start()
            stop = asyncio.Event()
            dispatcher = Dispatcher(coach, application.bot_data["sender"], retention=settings.retention)
            prompts = asyncio.create_task(dispatcher.run_forever(stop))
            try:
                with stop_on_signals(stop):
                    await start_receiving(application, settings)
                    await stop.wait()
            finally:
                stop.set()
                await prompts
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                await application.stop()
    finally:
        await coach.storage.engine.dispose()
    return 0
