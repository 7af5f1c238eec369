"""One generic handler: every Telegram update becomes an engine event, and the coach's replies go back."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Update
from telegram import Message as TgMessage
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageAttachmentType
from telegram.ext import ContextTypes

from hipcoach.bot.coach import Coach
from hipcoach.bot.storage.port import Storage
from hipcoach.bot.telegram.format import with_answer
from hipcoach.bot.telegram.sender import Press, TelegramSender
from hipcoach.bot.text_input import parse_input
from hipcoach.flows import Choice, Command, Event, Reachable, Reply, Text, Unsupported, render

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

    def __init__(self, coach: Coach, storage: Storage, sender: TelegramSender) -> None:
        self.coach = coach
        self.storage = storage
        self.sender = sender

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer one update: a private chat talks to the coach, any other chat hears where to find it.

        A button press is settled once its turn is committed, as part of the delivery of the replies.
        """
        if update.my_chat_member is not None:
            await self._note_membership(update)
            return
        query = update.callback_query
        event, chat, user = event_of(update), update.effective_chat, update.effective_user
        if event is None or chat is None:
            await self._answer(query)
            return
        if chat.type != ChatType.PRIVATE:
            await self._answer(query)
            if not isinstance(event, Unsupported):
                await self.sender.send_to_chat(
                    chat.id, [render(Reply("private_chat_only"), self.coach.content)]
                )
            return
        if user is None:
            return
        typing = asyncio.create_task(self._typing(chat.id)) if isinstance(event, Text | Command) else None
        try:
            answer = await self.coach.turn(user.id, event, update.update_id, user.username)
        finally:
            if typing is not None:
                await typing  # shown before any reply, and never longer than its one request
        if answer is None:
            await self._answer(query)
            return  # a redelivered update: answered the first time
        press = self._press(query) if query is not None and answer.committed else None
        if query is not None and press is None:
            await self._answer(query)  # the turn failed: its buttons stay, to be pressed again
        await self.coach.deliver(user.id, answer.messages, answer.outbox_id, self.sender.answering(press))

    async def _typing(self, chat_id: int) -> None:
        """'typing...' in the chat while the turn is taken."""
        await self.sender.best_effort(
            "chat action", lambda: self.sender.bot.send_chat_action(chat_id, ChatAction.TYPING)
        )

    async def _answer(self, query: CallbackQuery | None) -> None:
        """Stop the pressed button's spinner, and nothing more."""
        if query is not None:
            await self.sender.best_effort("press answer", query.answer)

    def _press(self, query: CallbackQuery) -> Press:
        """The press to settle: the pressed message with the chosen button's label under its text."""
        message = query.message
        if not isinstance(message, TgMessage):  # too old for Telegram to show: only the query is answered
            return Press(query.id, query.from_user.id, None)
        markup = message.reply_markup
        rows = markup.inline_keyboard if markup is not None else ()
        label = next((b.text for row in rows for b in row if b.callback_data == query.data), None)
        answered = None
        if message.text is not None and label is not None:
            line = self.coach.content.message("pressed_answer").format(label=label)
            answered = with_answer(message.text, message.text_html, line)
        return Press(query.id, message.chat.id, message.message_id, answered, markup is not None)

    async def _note_membership(self, update: Update) -> None:
        """A user who blocks the bot in their private chat is marked inactive; one who unblocks it is
        reachable again, and the coach plans the prompts skipped meanwhile anew."""
        change = update.my_chat_member
        assert change is not None
        if change.chat.type != ChatType.PRIVATE:
            return
        status = change.new_chat_member.status
        if status == ChatMemberStatus.BANNED:
            await self.storage.mark_inactive(change.from_user.id)
        elif status == ChatMemberStatus.MEMBER:
            await self.coach.turn(change.from_user.id, Reachable(), update.update_id)  # says nothing


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the update id and the kind of failure only: the update may carry health details."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update failed update=%s error=%s", update_id, type(context.error).__name__)
