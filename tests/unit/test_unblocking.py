"""Unblocking brings the schedule back: prompts skipped while the user was out of reach are planned anew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hipcoach.flows import Reachable, State, step
from hipcoach.flows.values import SchedulePrompt
from tests.fake_storage import FakeStorage
from tests.fakes import CollectingSender, FakeClock, dispatcher_for, fake_coach, onboard_with_schedule

USER = 7
MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # sessions Monday, Wednesday, Friday 18:00 UTC
NEXT_MONDAY = MONDAY + timedelta(days=7)


async def scheduled(content):
    clock = FakeClock(MONDAY)
    coach = fake_coach(content, clock)
    await onboard_with_schedule(coach, USER)
    return coach, clock


def pending(storage: FakeStorage, *kinds: str) -> list[tuple[str, datetime]]:
    rows = storage.tables.rows["prompts"]
    return sorted((p["kind"], p["due_at"]) for p in rows if p["status"] == "pending" and p["kind"] in kinds)


async def test_back_within_reach_the_engine_plans_the_next_session_and_weekly_summary_from_now(content):
    coach, _ = await scheduled(content)
    state = await coach.storage.load_state(USER)
    outcome = step(state, Reachable(), NEXT_MONDAY, content)
    assert outcome.replies == () and outcome.state == state
    sunday_summary = datetime(2026, 1, 18, tzinfo=UTC).replace(
        hour=content.schedule.weekly_summary_time.hour, minute=content.schedule.weekly_summary_time.minute
    )
    assert outcome.effects == (
        SchedulePrompt("session", NEXT_MONDAY.replace(hour=18)),
        SchedulePrompt("weekly", sunday_summary),
    )


def test_someone_never_met_or_not_yet_training_is_neither_greeted_nor_planned_for(content):
    for state in (State(), State("consent", {"answers": {}})):
        outcome = step(state, Reachable(), MONDAY, content)
        assert (outcome.state, outcome.replies, outcome.effects) == (state, (), ())


async def test_block_missed_prompts_unblock_and_the_next_session_prompt_comes_on_schedule(content):
    coach, clock = await scheduled(content)
    sender = CollectingSender()
    dispatcher = dispatcher_for(coach, sender)
    await coach.storage.mark_inactive(USER)
    clock.advance(timedelta(days=7))  # a week blocked: Monday's, Wednesday's and Friday's sessions missed
    assert await dispatcher.run_due() == 0
    assert pending(coach.storage, "session", "weekly") == []  # skipped, and nothing planned after them
    assert await coach.turn(USER, Reachable(), update_id=900) is not None
    assert pending(coach.storage, "session") == [("session", NEXT_MONDAY.replace(hour=18))]
    clock.advance(timedelta(hours=9, minutes=1))
    assert await dispatcher.run_due() == 1
    assert sender.sent[USER][-1].text.startswith("Time for your session")
