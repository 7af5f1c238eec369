"""One generic handler: every Telegram update becomes an engine event, and the coach's replies go back."""

from __future__ import annotations

import logging

from telegram import Message as TgMessage
from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType, MessageAttachmentType
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.coach import Coach
from bot.telegram_sender import TelegramSender
from bot.terminal import parse_input
from flows import Choice, Event, Reply, Unsupported, render

log = logging.getLogger(__name__)


def attachment_kind(message: TgMessage) -> str | None:
    """What a message without text carries (sticker, photo, voice, ...), or None for a service message."""
    for kind in MessageAttachmentType:
        if getattr(message, kind.value, None):
            return kind.value
    return None


def event_of(update: Update) -> Event | None:
    """The engine event an update carries, or None when there is nothing to answer."""
    if update.callback_query is not None:
        data = update.callback_query.data
        return Choice(data) if data else None
    if update.edited_message is not None or update.edited_channel_post is not None:
        return Unsupported("edited_message")
    message = update.message or update.channel_post
    if message is None:
        return None
    if message.text is not None:
        return parse_input(message.text, [], numbered=False)
    kind = attachment_kind(message)
    return Unsupported(kind) if kind else None


class TelegramAdapter:
    """Carries updates to the coach and its replies back; decides nothing about coaching."""

    def __init__(self, coach: Coach, sender: TelegramSender) -> None:
        self.coach = coach
        self.sender = sender

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer one update: a private chat talks to the coach, any other chat hears where to find it."""
        if update.callback_query is not None:
            await self._settle_press(update)
        if update.my_chat_member is not None:
            await self._note_membership(update)
            return
        event, chat, user = event_of(update), update.effective_chat, update.effective_user
        if event is None or chat is None:
            return
        if chat.type != ChatType.PRIVATE:
            if not isinstance(event, Unsupported):
                await self.sender.send_to_chat(
                    chat.id, [render(Reply("private_chat_only"), self.coach.content)]
                )
            return
        if user is None:
            return
        answer = await self.coach.handle_update(user.id, event, update.update_id, user.username)
        if answer is None:
            return  # a redelivered update: answered the first time
        await self.coach.deliver(user.id, answer.messages, answer.outbox_id, self.sender)

    async def _settle_press(self, update: Update) -> None:
        """Answer the button press and take the keyboard off its message, so it cannot be pressed again."""
        query = update.callback_query
        assert query is not None
        await self.sender.call(query.answer)
        if isinstance(query.message, TgMessage):
            try:
                await self.sender.call(lambda: query.edit_message_reply_markup(reply_markup=None))
            except BadRequest as error:  # too old to edit, or already without a keyboard
                log.info("keyboard kept update=%s error=%s", update.update_id, type(error).__name__)

    async def _note_membership(self, update: Update) -> None:
        """A user who blocks the bot in their private chat is marked inactive."""
        change = update.my_chat_member
        assert change is not None
        blocked = change.new_chat_member.status == ChatMemberStatus.BANNED
        if change.chat.type == ChatType.PRIVATE and blocked:
            await self.coach.storage.mark_inactive(change.from_user.id)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the update id and the kind of failure only: the update may carry health details."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update failed update=%s error=%s", update_id, type(context.error).__name__)
