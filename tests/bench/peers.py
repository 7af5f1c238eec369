"""Peer bots for the check-in turn: what a developer would write with python-telegram-bot alone.

`checkin_bot` is a ConversationHandler holding each user in a "how did it go?" state; a typed
check-in ("pain 2, about right, smooth") is parsed, kept in `user_data`, and answered with the same
number of messages the coach sends. In memory (no persistence), or with PicklePersistence: PTB's
defaults (every change written when the application next updates its persistence, by default once
a minute), or flushed after every update (as durable as our commit).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from telegram import Update
from telegram.ext import ContextTypes, ConversationHandler, MessageHandler, PicklePersistence, filters

from tests.bench import bots

CHECKIN = 1
CONVERSATION = "checkin"
PAIN = re.compile(r"pain\s*(\d+)")
EFFORT = ("too easy", "about right", "too hard")


def checkin_handlers(replies: int, persistent: bool) -> ConversationHandler:
    async def checkin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        """Read and keep the check-in, answer with `replies` messages, wait for the next one."""
        assert update.message is not None and update.message.text is not None
        assert context.user_data is not None
        text = update.message.text.lower()
        pain = PAIN.search(text)
        found = {
            "pain": int(pain.group(1)) if pain else None,
            "effort": next((word for word in EFFORT if word in text), None),
            "smooth": "smooth" in text,
        }
        context.user_data.setdefault("check_ins", []).append(found)
        for index in range(replies):
            await update.message.reply_text(f"Noted ({index + 1}/{replies}): pain {found['pain']}.")
        return CHECKIN

    return ConversationHandler(
        entry_points=[MessageHandler(filters.TEXT & ~filters.COMMAND, checkin)],
        states={CHECKIN: [MessageHandler(filters.TEXT & ~filters.COMMAND, checkin)]},
        fallbacks=[],
        name=CONVERSATION,
        persistent=persistent,
    )


def checkin_template(path: Path, users: int) -> None:
    """A PicklePersistence file (single file) of `users` users each with one check-in kept."""
    check_in = {"pain": 2, "effort": "about right", "smooth": True}
    data = {
        "conversations": {CONVERSATION: {(n, n): CHECKIN for n in range(1, users + 1)}},
        "user_data": {n: {"check_ins": [dict(check_in)]} for n in range(1, users + 1)},
        "chat_data": {},
        "bot_data": {},
        "callback_data": None,
    }
    building = path.with_suffix(".building")
    with building.open("wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
    building.rename(path)


async def checkin_bot(replies: int, persistence: PicklePersistence | None = None) -> bots.PickleBot:
    """The peer on the offline Bot API; with `persistence`, a pickle file behind it."""
    api = bots.offline_api()
    extra = {"persistence": persistence} if persistence is not None else {}
    application = bots._bare_application(api, **extra)
    application.add_handler(checkin_handlers(replies, persistent=persistence is not None))
    running = bots.PickleBot(application, api, persistence=persistence)
    await running.stack.enter_async_context(application)
    return running
