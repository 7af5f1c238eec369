"""Render replies to text with the content's message templates."""

from __future__ import annotations

import re

from hipcoach.content.schema import Content
from hipcoach.flows.values import Message, Reply


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


# Content marks headings **like this**: bold in Telegram, plain in the terminal.
BOLD = re.compile(r"\*\*(.+?)\*\*")


def plain(text: str) -> str:
    """The text without its bold marks, for a chat that cannot show them."""
    return BOLD.sub(r"\1", text)


def render(reply: Reply, content: Content, locale: str = "en") -> Message:
    # A reply with an attachment may leave parameters for the shell to fill in with stored figures.
    params = _Blank(reply.params) if reply.attachment else reply.params
    # A message with a count has a template per plural form; the count in its params picks one.
    text = content.template(reply.key, params, locale).format_map(params).strip()
    buttons = tuple(
        tuple((content.template(b.label, b.params, locale).format(**b.params), b.value) for b in row)
        for row in reply.buttons
    )
    return Message(text, buttons, reply.attachment, replaces_pressed=reply.replaces_pressed)


def render_all(replies: tuple[Reply, ...], content: Content, locale: str = "en") -> list[Message]:
    return [render(reply, content, locale) for reply in replies]
