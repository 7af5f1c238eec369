"""What a Telegram user sees of a message sent with parse_mode HTML: its text without the markup."""

import html
import re

_TAGS = re.compile(r"</?b>")


def shown_text(sent: str) -> str:
    """The bold tags our bot sends are shown as bold, not as tags; entities as characters."""
    return html.unescape(_TAGS.sub("", sent))
