"""In-memory fakes for the shell's ports (storage: tests/fake_storage.py); tests assert on what they keep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hipcoach.bot.coach import Clock, Coach, Sender, Staff
from hipcoach.bot.delivery.dispatcher import Dispatcher
from hipcoach.bot.storage.outbox import Progress, Untracked
from hipcoach.bot.storage.sql import SqlReports, SqlStorage
from hipcoach.content.schema import Content
from hipcoach.flows import Choice, Event, Message, Text
from tests.fake_storage import FakeReports, FakeStorage


class CollectingSender:
    """A sender that keeps what it was given (one part per message), by user."""

    def __init__(self) -> None:
        self.sent: dict[int, list[Message]] = {}

    async def send(self, user_id: int, messages: list[Message], progress: Progress | None = None) -> None:
        progress = progress or Untracked()
        for part in range(progress.first, len(messages)):
            await progress.sending(part)
            self.sent.setdefault(user_id, []).append(messages[part])


@dataclass
class FakeClock:
    """A clock the test moves: the coach is built with it, and reads it on every turn."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def fake_coach(content: Content, clock: FakeClock | None = None, staff: Staff | None = None) -> Coach:
    """The whole coach on the in-memory unit of work."""
    storage = FakeStorage()
    return Coach(
        storage, FakeReports(storage), content, clock or FakeClock(datetime(2026, 1, 1)), staff=staff
    )


async def said(coach: Coach, user_id: int, event: Event, handle: str | None = None) -> list[Message]:
    """What the coach answers one event, through the one turn path: taken, committed, delivered."""
    answer = await coach.turn(user_id, event, handle=handle)
    assert answer is not None
    sender = CollectingSender()
    await coach.deliver(user_id, answer.messages, answer.outbox_id, sender)
    return sender.sent.get(user_id, [])


SCHEDULED = [
    "consent:yes", "red_flags_urgent:no", "red_flags_clinician:no", "load_pain:no", "kneeling_ok:yes",
    "knee_issues:no", "equipment:none", "goal_activity:0", "goal_rating:7", "session:done",
    "checkin_pain:2", "checkin_effort:ok", "checkin_control:smooth", "schedule_days:mon_wed_fri",
    "schedule_time:1800", "schedule_zone:utc", "schedule_summary_day:6", "schedule_confirm:yes",
]  # fmt: skip
BY_THE_WAY = ("checkin_parts:fine",)  # questions asked on some paths only: the easy answer is given


async def onboard_with_schedule(coach: Coach, user_id: int) -> None:
    """A user onboarded, one session checked in, sessions on Monday, Wednesday and Friday at 18:00 UTC."""
    messages = await said(coach, user_id, Text("hi"))
    for value in SCHEDULED:
        offered = [v for m in messages for row in m.buttons for _, v in row]
        for extra in BY_THE_WAY:
            if extra in offered:
                messages = await said(coach, user_id, Choice(extra))
        messages = await said(coach, user_id, Choice(value))


def sql_coach(storage: SqlStorage, content: Content, clock: Clock, **collaborators: Any) -> Coach:
    """The coach on a real database (integration tests), its collaborators given as bootstrap gives them."""
    return Coach(storage, SqlReports(storage.engine), content, clock, **collaborators)


def dispatcher_for(coach: Coach, sender: Sender, **options: Any) -> Dispatcher:
    """A dispatcher on the coach's own storage, clock and observer, as bootstrap wires it."""
    return Dispatcher(coach, coach.storage, sender, coach.clock, coach.observer, **options)
