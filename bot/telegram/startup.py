"""Reaching Telegram at start: an unreachable Bot API is waited for, a refused token is not.

A bot started while the network or Telegram is down (a host booting, a container started before its
network) should come up by itself once Telegram answers, saying one line per try meanwhile; a
traceback for a condition that is expected and cured by waiting would bury the logs. A token
Telegram refuses cannot be cured by waiting: that stops the start at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, TelegramError

from hipcoach.bot.backoff import doubling
from hipcoach.bot.telegram.sender import Sleep

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_WAIT = 1.0  # seconds before the second try
LONGEST_WAIT = 60.0  # the wait stops doubling here: Telegram is asked again at least once a minute


def unreachable(error: TelegramError) -> bool:
    """A network error or a timeout: the request may succeed later. A BadRequest (also a NetworkError
    in python-telegram-bot) is an answer, and asking again cannot change it."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


async def until_reached(request: Callable[[], Awaitable[T]], sleep: Sleep) -> T:
    """`request`'s result, asked again after each network error or timeout with a growing wait.

    Every other error (InvalidToken, BadRequest, ...) is raised at once. Only cancelling stops the
    waiting, as a signal during startup does (bot/telegram/app.py `unless_stopped`).
    """
    for wait in doubling(FIRST_WAIT, LONGEST_WAIT):
        try:
            return await request()
        except TelegramError as error:
            if not unreachable(error):
                raise
            # The error's type only: its text may hold a URL, and Telegram URLs hold the token.
            log.warning("telegram unreachable (%s); retrying in %g s", type(error).__name__, wait)
        await sleep(wait)
    raise AssertionError("doubling() never ends")
