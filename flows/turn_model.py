"""The per-turn model as its step mixins see it, declared once so each mixin is type-checked on its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from transitions import EventData

from hipcoach.content.schema import Content
from hipcoach.flows.values import Button, Effect, Reply


class TurnModel:
    """What every step may read and write; `flows.machine.Turn` sets these fields for one turn."""

    state: str
    data: dict[str, Any]
    content: Content
    now: datetime
    replies: list[Reply]
    effects: list[Effect]
    replaces_pressed: bool

    def say(
        self,
        key: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
        attachment: str | None = None,
        **params: Any,
    ) -> None:
        self.replies.append(Reply(key, params, buttons, attachment))


def argument(event: EventData) -> Any:
    """The trigger's first argument (transitions types `args` as any iterable; it is the call's tuple)."""
    return cast(tuple[Any, ...], event.args)[0]


def destination(event: EventData) -> str | None:
    """Where the transition whose conditions are being checked leads."""
    return event.transition.dest if event.transition else None
