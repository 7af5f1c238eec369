"""Render replies to text with the content's message templates."""

from __future__ import annotations

from content.schema import Content
from flows.values import Message, Reply


def render(reply: Reply, content: Content, locale: str = "en") -> Message:
    text = content.message(reply.key, locale).format(**reply.params).strip()
    buttons = tuple(
        tuple((content.message(b.label, locale).format(**b.params), b.value) for b in row)
        for row in reply.buttons
    )
    return Message(text, buttons)


def render_all(replies: tuple[Reply, ...], content: Content, locale: str = "en") -> list[Message]:
    return [render(reply, content, locale) for reply in replies]
