"""One generic handler: every Telegram update becomes an engine event, and the coach's replies go back.

An update whose turn cannot commit (the database is down) is never acknowledged as handled. The user
hears one apology (it needs no database), then: an update that came by webhook marks its `Receipt`,
and the webhook answers 503 so that Telegram delivers it again; an update that came by polling is
already confirmed to Telegram (PTB asks for the next offset as soon as it has queued the batch), so
it is taken again here, in the same handler call, with backoff, until it commits. Retrying inside
the call is what keeps it: nothing else in the process holds the update, and the chat's later
updates, which wait for this call (bot/telegram/update_order.py), keep their order behind it; other
chats go on in the processor's other places. A block or unblock that cannot be stored is treated the
same way, without the apology. The retries end when the application stops or after `COMMIT_TRIES`
(about 18 minutes, longer than a database restart or failover); either is logged with the update
id, as the one way an update can still be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from functools import partial

from telegram import CallbackQuery, Update
from telegram import Message as TgMessage
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageAttachmentType
from telegram.ext import ContextTypes

from hipcoach.bot.coach import Answer, Coach
from hipcoach.bot.storage.port import Storage
from hipcoach.bot.telegram.format import with_answer
from hipcoach.bot.telegram.sender import Press, RetryPolicy, TelegramSender
from hipcoach.bot.text_input import parse_input
from hipcoach.flows import Choice, Command, Event, Reachable, Reply, Text, Unsupported, render

log = logging.getLogger(__name__)

COMMIT_TRIES = 40  # a polled update's turn, tried again with backoff (1, 2, 4 ... 30 s) before it is dropped
APOLOGIES_KEPT = 10_000  # update ids already apologised for: a redelivery during an outage is not again


class Receipt:
    """What a webhook request learns about its update: whether everything it asked for was committed."""

    def __init__(self) -> None:
        self.committed = True


# Set by the webhook for the task that handles its update; None for a polled update.
RECEIPT: ContextVar[Receipt | None] = ContextVar("webhook_receipt", default=None)


class Apologies:
    """The update ids already apologised for, the newest `kept` of them."""

    def __init__(self, kept: int = APOLOGIES_KEPT) -> None:
        self.kept = kept
        self.ids: OrderedDict[int, None] = OrderedDict()

    def first_for(self, update_id: int) -> bool:
        """True the first time an update id is asked about (noting it), False after."""
        if update_id in self.ids:
            return False
        self.ids[update_id] = None
        if len(self.ids) > self.kept:
            self.ids.popitem(last=False)
        return True


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

    def __init__(
        self, coach: Coach, storage: Storage, sender: TelegramSender, policy: RetryPolicy | None = None
    ) -> None:
        self.coach = coach
        self.storage = storage
        self.sender = sender
        self.policy = policy or RetryPolicy()  # the backoff between tries of a polled update's turn
        self.apologies = Apologies()

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer one update: a private chat talks to the coach, any other chat hears where to find it.

        A button press is settled once its turn is committed, as part of the delivery of the replies; a
        failure to settle it is logged and never undoes the turn or its replies.
        """
        if update.my_chat_member is not None:
            await self._note_membership(update, context)
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
        if answer is not None and not answer.committed:
            await self._apologise(update.update_id, user.id, query)
            take = partial(self.coach.turn, user.id, event, update.update_id, user.username)
            answer = await self._until_committed(update.update_id, take, context)
            if answer is None or not answer.committed:
                return  # Telegram delivers it again, or it is dropped (logged)
        if answer is None or answer.waiting:
            await self._answer(query)
            return  # a redelivered update (answered the first time), or replies left for the dispatcher
        press = self._press(query) if query is not None else None
        await self.coach.deliver_answer(user.id, answer, self.sender.answering(press))

    async def _apologise(self, update_id: int, user_id: int, query: CallbackQuery | None) -> None:
        """Say sorry once per update, however often it fails, and that it is kept: it will be taken again
        (redelivered by Telegram, or retried here), so sending it again would only answer it twice."""
        await self._answer(query)
        if self.apologies.first_for(update_id):
            sorry = [render(Reply("error_will_retry"), self.coach.content)]
            await self.coach.deliver(user_id, sorry, None, self.sender)

    async def _until_committed(
        self,
        update_id: int,
        take: Callable[[], Awaitable[Answer | None]],
        context: ContextTypes.DEFAULT_TYPE,
    ) -> Answer | None:
        """A webhook's update is left to Telegram to deliver again (None); a polled one is taken again here.

        The committed answer (or None for an update found already taken); None when it never committed.
        """
        receipt = RECEIPT.get()
        if receipt is not None:
            receipt.committed = False
            return None
        for retry in range(1, COMMIT_TRIES + 1):
            if not await self._paused(self.policy.backoff(retry), context):
                break
            answer = await take()
            if answer is None or answer.committed:
                log.info("update taken after %d retries update=%s", retry, update_id)
                return answer
        log.error("update dropped uncommitted update=%s", update_id)
        return None

    async def _paused(self, seconds: float, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Wait `seconds` a second at a time, so that stopping is not held up; False once it stops."""
        while context.application.running and seconds > 0:
            await self.sender.sleep(min(seconds, 1.0))
            seconds -= 1.0
        return context.application.running

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

    async def _note_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A user who blocks the bot in their private chat is marked inactive; one who unblocks it is
        reachable again, and the coach plans the prompts skipped meanwhile anew. Neither says anything,
        and neither is acknowledged before it is stored."""
        change = update.my_chat_member
        assert change is not None
        if change.chat.type != ChatType.PRIVATE:
            return
        status, user_id = change.new_chat_member.status, change.from_user.id
        if status == ChatMemberStatus.BANNED:
            take = partial(self._mark_inactive, user_id)
        elif status == ChatMemberStatus.MEMBER:
            take = partial(self.coach.turn, user_id, Reachable(), update.update_id)
        else:
            return
        answer = await take()
        if answer is not None and not answer.committed:
            await self._until_committed(update.update_id, take, context)

    async def _mark_inactive(self, user_id: int) -> Answer | None:
        """Mark a user inactive: None once stored, an uncommitted answer (with nothing to say) if not."""
        try:
            await self.storage.mark_inactive(user_id)
        except Exception as error:  # its message may quote parameters: only its type is logged
            log.error("blocked user not marked user=%s error=%s", user_id, type(error).__name__)
            return Answer([], None, committed=False)
        return None


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the update id and the kind of failure only: the update may carry health details."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update failed update=%s error=%s", update_id, type(context.error).__name__)
