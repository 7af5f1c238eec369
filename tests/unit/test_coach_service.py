"""The whole coach on the in-memory unit of work: turns, redeliveries, prompts, the outbox, forgetting."""

from datetime import UTC, datetime, timedelta

from hipcoach.bot.delivery.dispatcher import Dispatcher
from hipcoach.flows import Choice, Command, Text
from hipcoach.flows.values import RecordConsent
from tests.conftest import NOW
from tests.fakes import CollectingSender, FakeClock, fake_coach, onboard_with_schedule, said

MONDAY_MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def test_a_turn_stores_the_new_state_and_its_effects(content):
    coach = fake_coach(content, FakeClock(NOW))
    await said(coach, 7, Text("hi"))
    await said(coach, 7, Choice("consent:yes"))
    assert coach.storage.states[7].name == "red_flags_urgent"
    assert coach.storage.effects[7] == [RecordConsent(True)]


async def test_a_failing_turn_apologises_and_leaves_the_stored_state_as_it_was(content, caplog):
    coach = fake_coach(content, FakeClock(NOW))
    await said(coach, 7, Text("hi"))
    before = coach.storage.states[7]
    coach.storage.fail_next = ConnectionError("database is down")

    answer = await coach.turn(7, Text("my back hurts at 7/10"), update_id=42)

    assert answer is not None and not answer.committed
    assert [m.text for m in answer.messages] == [content.message("error_sorry")]
    assert coach.storage.states[7] == before
    assert "update:42" in caplog.text
    assert "ConnectionError" in caplog.text
    assert "7/10" not in caplog.text
    assert "database is down" not in caplog.text


async def test_declining_consent_leaves_nothing_stored(content):
    coach = fake_coach(content, FakeClock(NOW))
    await said(coach, 9, Text("hi"))
    await said(coach, 9, Choice("consent:no"))
    assert 9 not in coach.storage.states
    assert 9 not in coach.storage.effects
    assert all(rows == [] for rows in (await coach.reports.rows_about(9)).values())


async def test_users_are_kept_apart(content):
    coach = fake_coach(content, FakeClock(NOW))
    await said(coach, 1, Text("hi"))
    await said(coach, 2, Text("hi"))
    await said(coach, 1, Choice("consent:yes"))
    assert coach.storage.states[1].name == "red_flags_urgent"
    assert coach.storage.states[2].name == "consent"


async def test_a_redelivered_update_changes_nothing_and_gets_no_answer(content):
    coach = fake_coach(content, FakeClock(NOW))
    first = await coach.turn(3, Text("hi"), update_id=500)
    assert first is not None and first.outbox_id is not None
    state = coach.storage.states[3]

    assert await coach.turn(3, Choice("consent:yes"), update_id=500) is None

    assert coach.storage.states[3] == state


async def test_an_update_s_replies_are_committed_claimed_and_marked_sent_once_delivered(content):
    coach = fake_coach(content, FakeClock(NOW))
    answer = await coach.turn(3, Text("hi"), update_id=1)
    assert answer is not None
    [row] = (await coach.reports.rows_about(3))["outbox"]
    assert row["status"] == "sending"  # claimed for the caller: the dispatcher leaves it alone
    assert await coach.storage.outbox.claim(10, NOW) == []

    sender = CollectingSender()
    assert await coach.deliver(3, answer.messages, answer.outbox_id, sender)

    [row] = (await coach.reports.rows_about(3))["outbox"]
    assert row["status"] == "sent"
    assert [m.text for m in sender.sent[3]] == [m.text for m in answer.messages]


async def test_a_reply_whose_sender_died_is_sent_by_the_dispatcher_after_the_lease(content):
    clock = FakeClock(NOW)
    coach = fake_coach(content, clock)
    answer = await coach.turn(3, Text("hi"), update_id=1)  # committed, and then the process dies
    assert answer is not None
    sender = CollectingSender()
    dispatcher = Dispatcher(coach, coach.storage, sender, clock)
    assert await dispatcher.flush() == 0

    clock.advance(coach.storage.outbox.lease + timedelta(seconds=1))

    assert await dispatcher.flush() == 1
    assert [m.text for m in sender.sent[3]] == [m.text for m in answer.messages]


async def test_a_due_prompt_is_sent_once_and_the_next_one_is_planned(content):
    clock = FakeClock(MONDAY_MORNING)
    coach = fake_coach(content, clock)
    await onboard_with_schedule(coach, 77)
    sender = CollectingSender()
    dispatcher = Dispatcher(coach, coach.storage, sender, clock)
    assert await dispatcher.run_due() == 0

    clock.now = MONDAY_MORNING.replace(hour=18, minute=1)
    assert await dispatcher.run_due() == 1
    assert await dispatcher.run_due() == 0

    assert any(m.buttons for m in sender.sent[77])
    prompts = (await coach.reports.rows_about(77))["prompts"]
    assert [p["status"] for p in prompts if p["kind"] == "session"] == ["sent", "pending"]


async def test_deleting_forgets_every_row_and_the_retention_sweep_forgets_the_quiet(content):
    clock = FakeClock(NOW)
    coach = fake_coach(content, clock)
    await said(coach, 5, Text("hi"))
    await said(coach, 5, Choice("consent:yes"))
    await said(coach, 6, Text("hi"))
    await said(coach, 6, Command("delete"))
    await said(coach, 6, Choice("delete:yes"))
    assert all(rows == [] for rows in (await coach.reports.rows_about(6)).values())

    clock.advance(timedelta(days=40))
    assert await coach.storage.forget_inactive(clock() - timedelta(days=30)) == 1
    assert all(rows == [] for rows in (await coach.reports.rows_about(5)).values())


async def test_export_sends_every_stored_row_about_the_user(content):
    coach = fake_coach(content, FakeClock(NOW))
    await said(coach, 5, Text("hi"))
    await said(coach, 5, Choice("consent:yes"))
    [message, *_] = await said(coach, 5, Command("export"))
    names = [file.name for file in message.files]
    assert names == ["hipcoach-5.json", "hipcoach-5-check-ins.csv"]
    assert b'"consented_at"' in message.files[0].data


async def test_a_reply_committed_while_an_earlier_one_is_being_sent_elsewhere_goes_out_after_it(content):
    coach = fake_coach(content, FakeClock(NOW))
    sender = CollectingSender()
    first = await coach.turn(7, Text("hi"), update_id=1)  # its replies are in hand, say on another replica
    second = await coach.turn(7, Choice("consent:yes"), update_id=2)
    assert first is not None and second is not None

    async def first_sent_meanwhile(seconds: float) -> None:
        await coach.deliver(7, first.messages, first.outbox_id, sender)

    coach.storage.outbox.claims.sleep = first_sent_meanwhile
    assert await coach.deliver(7, second.messages, second.outbox_id, sender)

    assert [m.text for m in sender.sent[7]] == [m.text for m in first.messages + second.messages]
    assert await coach.storage.outbox.claim(10, NOW) == []


async def test_a_reply_waits_behind_a_claim_whose_sender_died_until_the_dispatcher_sends_that_first(content):
    clock = FakeClock(NOW)
    coach = fake_coach(content, clock)
    sender = CollectingSender()
    first = await coach.turn(7, Text("hi"), update_id=1)  # claimed, never sent: its sender died
    assert first is not None
    clock.advance(coach.storage.outbox.lease + timedelta(seconds=1))
    second = await coach.turn(7, Choice("consent:yes"), update_id=2)
    assert second is not None
    outbox = coach.storage.outbox

    async def dispatcher_round(seconds: float) -> None:
        for item in await outbox.claim(10, clock()):
            await coach.deliver_queued(item, sender)

    outbox.claims.sleep = dispatcher_round
    assert await coach.deliver(7, second.messages, second.outbox_id, sender)
    assert [m.text for m in sender.sent[7]] == [m.text for m in first.messages + second.messages]
