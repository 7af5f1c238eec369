"""Messages as Telegram wants them: escaped HTML, pieces within the length limit, inline keyboards."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from hipcoach.flows import Message
from hipcoach.flows.render import BOLD

MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH
MAX_CAPTION = MessageLimit.CAPTION_LENGTH
MAX_CALLBACK_DATA = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"\s"))

Outgoing = tuple[str, InlineKeyboardMarkup | None]


def to_html(text: str) -> str:
    """Text made safe for parse_mode HTML, its **headings** in bold."""
    return BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


def _size(text: str) -> int:
    """Length as Telegram may count it: UTF-16 code units of the escaped text."""
    return len(to_html(text).encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many leading characters of `text` fit in `limit` once escaped."""
    used = 0
    for index, char in enumerate(text):
        used += _size(char)
        if used > limit:
            return index
    return len(text)


def _cut(text: str, end: int) -> int:
    """Where to cut before `end`: the last paragraph, line or word break in its second half, else `end`."""
    for pattern in BREAKS:
        starts = [match.start() for match in pattern.finditer(text, 0, end + 1)]
        if starts and starts[-1] >= end // 2:
            return starts[-1]
    spaces = [match.start() for match in BREAKS[-1].finditer(text, 0, end + 1) if match.start() > 0]
    return spaces[-1] if spaces else end


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces that each fit the limit once escaped, cut at paragraph, line or word breaks."""
    pieces: list[str] = []
    rest = text.strip()
    while _size(rest) > limit:
        cut = max(_cut(rest, _fitting(rest, limit)), 1)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


@lru_cache(maxsize=512)
def keyboard(rows: tuple[tuple[tuple[str, str], ...], ...]) -> InlineKeyboardMarkup | None:
    """An inline keyboard whose buttons send their value as callback data (made once per set of buttons:
    python-telegram-bot's objects are immutable)."""
    if not rows:
        return None
    for row in rows:
        for _, value in row:
            if not 1 <= len(value.encode()) <= MAX_CALLBACK_DATA:
                raise ValueError(
                    f"callback data must be 1-{MAX_CALLBACK_DATA} bytes, got {len(value.encode())}"
                )
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=value) for label, value in row] for row in rows]
    )


def outgoing(message: Message) -> list[Outgoing]:
    """The sendMessage calls for one message: HTML pieces, the keyboard under the last."""
    pieces = split_text(message.text)
    markup = keyboard(message.buttons)
    return [(to_html(piece), markup if n == len(pieces) else None) for n, piece in enumerate(pieces, 1)]


def caption(message: Message) -> str | None:
    """The message's text as the caption of its one photo, escaped; None when it has no such photo or the
    text is too long for a caption (then it goes as a text message before the photo)."""
    photos = [file for file in message.files if file.kind == "photo"]
    if len(photos) != 1 or len(message.files) != 1 or _size(message.text.strip()) > MAX_CAPTION:
        return None
    return to_html(message.text.strip())


def with_answer(text: str, message_html: str, answer_line: str) -> str | None:
    """A pressed message's HTML with the chosen answer on a line of its own under it, or None when the
    message would grow past Telegram's limit (`text` is what the user sees of it)."""
    if _size(text) + 2 + _size(answer_line) > MAX_TEXT:
        return None
    return f"{message_html}\n\n{to_html(answer_line)}"
