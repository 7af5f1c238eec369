"""One contract, three implementations: the in-memory fake, SQLite and PostgreSQL keep the same promises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hipcoach.bot.storage.outbox import ClaimLost
from hipcoach.bot.storage.port import ClaimedReply, Reports, Storage
from hipcoach.flows.values import (
    CancelPrompts,
    RecordAnswer,
    RecordCheckIn,
    RecordConsent,
    RecordMorning,
    SchedulePrompt,
    SetPosition,
    State,
)
from tests.fake_storage import USER_TABLES
from tests.fakes import FakeClock
from tests.integration.ports import KINDS, ports

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
PAYLOAD = [{"text": "one", "buttons": []}, {"text": "two", "buttons": []}]


@dataclass
class Port:
    storage: Storage
    reports: Reports


@pytest.fixture(params=KINDS)
async def port(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Port]:
    async with ports(request, tmp_path) as (storage, reports):
        yield Port(storage, reports)


async def keep(port: Port, user_id: int, state: State, *effects, now: datetime = NOW) -> None:
    async with port.storage.unit_of_work(now) as work:
        await work.open_user(user_id)
        await work.apply(user_id, effects)
        await work.save(user_id, state)
        await work.commit()


async def queue(port: Port, user_id: int, claimed: bool = False, now: datetime = NOW) -> int:
    """A committed outbox row; its id, found among the user's rows when it was left for the dispatcher."""
    async with port.storage.unit_of_work(now) as work:
        await work.open_user(user_id)
        row = await work.queue(user_id, PAYLOAD, claimed)
        await work.commit()
    if row is None:
        return max(row["id"] for row in (await port.reports.rows_about(user_id))["outbox"])
    return row.id


async def claimed_reply(port: Port, user_id: int) -> ClaimedReply:
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(user_id)
        row = await work.queue(user_id, PAYLOAD, claimed=True)
        await work.commit()
    assert row is not None
    return row


def without_ids(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "id"} for row in rows]


async def test_a_committed_turn_keeps_state_and_records_and_an_uncommitted_one_keeps_nothing(port):
    await keep(port, 1, State("idle", {"n": 1}), RecordConsent(True), RecordAnswer("knee_issues", "no"))
    async with port.storage.unit_of_work(LATER) as work:
        opened = await work.open_user(1)
        await work.save(1, State("other"))
        await work.apply(1, [SetPosition("hinge", "glute_bridge", "start")])
    assert opened.known and opened.state == State("idle", {"n": 1})
    assert await port.storage.load_state(1) == State("idle", {"n": 1})
    rows = await port.reports.rows_about(1)
    assert rows["users"][0]["consented_at"] == NOW and rows["users"][0]["last_seen_at"] == NOW
    assert [(r["question"], r["value"]) for r in rows["screening_answers"]] == [("knee_issues", "no")]
    assert rows["rung_changes"] == []


async def test_someone_new_is_opened_unknown_with_the_first_state(port):
    async with port.storage.unit_of_work(NOW) as work:
        opened = await work.open_user(2)
    assert not opened.known and opened.state == State()
    assert (await port.reports.rows_about(2))["users"] == []  # rolled back


async def test_a_recorded_update_is_seen_again_only_once_committed(port):
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(1)
        assert not await work.seen_update(10)
        await work.record_update(1, 10)
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(1)
        assert not await work.seen_update(10)  # the first was not committed
        await work.record_update(1, 10)
        await work.commit()
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(1)
        assert await work.seen_update(10)


async def test_the_outbox_hands_rows_out_once_oldest_first_and_claimed_ones_after_the_lease(port):
    claimed = await queue(port, 1, claimed=True)
    first, second, other = await queue(port, 1), await queue(port, 1), await queue(port, 2)
    outbox = port.storage.outbox

    assert await outbox.claim(10, NOW, user_id=1) == []  # behind the row being sent
    assert [q.id for q in await outbox.claim(10, NOW)] == [other]
    assert await outbox.claim(10, NOW) == []
    lapsed = await outbox.claim(10, NOW + outbox.lease + timedelta(seconds=1))
    assert [q.id for q in lapsed] == [claimed, first, second, other]  # the user's in order
    assert lapsed[0].payload == PAYLOAD and lapsed[0].user_id == 1


async def test_a_turns_row_with_nothing_ahead_knows_the_live_keyboards_the_last_delivery_noted(port):
    outbox = port.storage.outbox
    first = await claimed_reply(port, 1)
    assert (first.ahead, first.live_keyboards) == (False, ())
    await outbox.done(first.id, NOW, True, 5, keyboards=(41, 42))

    second = await claimed_reply(port, 1)
    assert (second.ahead, second.live_keyboards) == (False, (41, 42))
    behind = await claimed_reply(port, 1)  # the second is still being sent
    assert behind.ahead and behind.live_keyboards is None


async def test_a_dispatchers_claim_reads_the_live_keyboards_noted_with_the_users_last_row(port):
    outbox = port.storage.outbox
    await queue(port, 1)
    [first] = await outbox.claim(10, NOW)
    assert first.live_keyboards == ()
    await outbox.done(first.id, NOW, True, 5, keyboards=(7,))

    await queue(port, 1)
    [second] = await outbox.claim(10, NOW)
    assert second.live_keyboards == (7,)
    await outbox.done(second.id, NOW, False, 5, keyboards=())  # a failed try still notes what it did
    [user] = (await port.reports.rows_about(1))["users"]
    assert user["live_keyboards"] is None


async def test_a_users_rows_are_claimed_together_in_order_but_never_past_one_held_elsewhere(port):
    rows = [await queue(port, 1) for _ in range(3)]
    outbox = port.storage.outbox

    [first] = await outbox.claim(1, NOW)
    assert await outbox.claim(10, NOW) == []  # the others wait while the first is being sent
    await outbox.done(first.id, NOW, True, 5)

    assert [first.id] + [q.id for q in await outbox.claim(10, NOW)] == rows


async def test_rows_waiting_behind_one_held_elsewhere_do_not_keep_other_users_rows_from_a_claim(port):
    await queue(port, 1, claimed=True)  # being sent
    for _ in range(3):
        await queue(port, 1)
    other = await queue(port, 2)

    assert [q.id for q in await port.storage.outbox.claim(2, NOW)] == [other]


async def test_a_turns_row_waits_behind_one_being_sent_and_behind_one_whose_sender_died_until_sent(port):
    clock = FakeClock(NOW)
    earlier, later = await queue(port, 1, claimed=True), await queue(port, 1, claimed=True)
    outbox = port.storage.outbox
    waits: list[float] = []

    async def earlier_sent_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        await outbox.done(earlier, NOW, True, 5)

    outbox.claims.sleep = earlier_sent_meanwhile
    outbox.hold(later, clock)
    assert await outbox.in_turn(later, 1)
    assert len(waits) == 1  # it waited once, then went

    orphan = await queue(port, 2, claimed=True)  # its sender died: the claim lapses with the lease
    behind = await queue(port, 2, claimed=True, now=NOW + outbox.lease)
    clock.advance(outbox.lease + timedelta(seconds=1))

    async def dispatcher_sends_it_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        [again] = await outbox.claim(10, clock(), user_id=2)
        assert again.id == orphan  # the old row goes first, never after the newer one
        await outbox.done(again.id, clock(), True, 5)

    outbox.claims.sleep = dispatcher_sends_it_meanwhile
    outbox.hold(behind, clock)
    assert await outbox.in_turn(behind, 2)
    assert len(waits) == 2


async def test_a_row_waiting_a_whole_lease_behind_another_is_given_back_for_the_dispatcher(port):
    clock = FakeClock(NOW)
    await queue(port, 1)  # pending, and nobody sends it meanwhile
    waiting = await queue(port, 1, claimed=True)
    outbox = port.storage.outbox
    waited: list[float] = []

    async def nothing_happens(seconds: float) -> None:
        waited.append(seconds)

    outbox.claims.sleep = nothing_happens
    outbox.hold(waiting, clock)
    assert not await outbox.in_turn(waiting, 1)
    assert sum(waited) >= outbox.lease.total_seconds()
    [row] = [r for r in (await port.reports.rows_about(1))["outbox"] if r["id"] == waiting]
    assert (row["status"], row["attempts"], row["claimed_at"]) == ("pending", 0, None)


async def test_the_heartbeat_keeps_held_claims_while_one_nobody_holds_lapses_and_is_claimed_again(port):
    clock = FakeClock(NOW)
    held, orphan = await queue(port, 1, claimed=True), await queue(port, 2, claimed=True)
    outbox = port.storage.outbox
    outbox.hold(held, clock)

    for _ in range(8):  # beats every 5 s, past the lease
        clock.advance(timedelta(seconds=5))
        await outbox.beat(clock())

    [again] = await outbox.claim(10, clock())
    assert again.id == orphan  # its caller never learned of the commit: the dispatcher sends it
    rows = {r["id"]: r for u in (1, 2) for r in (await port.reports.rows_about(u))["outbox"]}
    assert rows[held]["claimed_at"] == clock()


async def test_notes_asked_together_are_written_in_one_transaction_before_any_returns(port):
    clock = FakeClock(NOW)
    rows = [await queue(port, user, claimed=True) for user in (1, 2, 3)]
    outbox = port.storage.outbox
    for outbox_id in rows:
        outbox.hold(outbox_id, clock)
    before = outbox.claims.writes

    await asyncio.gather(*(outbox.sending(outbox_id, 0) for outbox_id in rows))

    assert outbox.claims.writes == before + 1
    found = [r for u in (1, 2, 3) for r in (await port.reports.rows_about(u))["outbox"]]
    assert [(r["parts_done"], r["part_in_flight"]) for r in found] == [(0, 0)] * 3
    await asyncio.gather(*(outbox.done(outbox_id, NOW, True, 5) for outbox_id in rows))
    assert outbox.claims.writes == before + 2


async def test_a_claim_left_unrefreshed_most_of_its_lease_is_given_up_before_its_next_part(port):
    clock = FakeClock(NOW)
    outbox_id = await queue(port, 1, claimed=True)
    outbox = port.storage.outbox
    outbox.hold(outbox_id, clock)
    await outbox.sending(outbox_id, 0)
    clock.advance(outbox.lease - outbox.claims.margin + timedelta(seconds=1))  # no heartbeat got through

    with pytest.raises(ClaimLost):
        await outbox.sending(outbox_id, 1)

    await outbox.done(outbox_id, clock(), True, 5)  # not ours to settle any more
    [row] = (await port.reports.rows_about(1))["outbox"]
    assert (row["status"], row["part_in_flight"]) == ("sending", 0)


async def test_a_part_in_flight_when_its_sender_died_is_counted_and_never_sent_again(port):
    outbox_id = await queue(port, 1, claimed=True)
    outbox = port.storage.outbox
    await outbox.sending(outbox_id, 0)
    await outbox.unconfirmed(outbox_id, 0)
    await outbox.sending(outbox_id, 1)  # ...and the sender dies

    lapsed = NOW + outbox.lease + timedelta(seconds=1)
    [again] = await outbox.claim(10, lapsed)

    assert (again.first_part, again.lapsed_in_flight) == (2, True)
    await outbox.done(outbox_id, lapsed, True, 5)
    [row] = (await port.reports.rows_about(1))["outbox"]
    assert (row["status"], row["unconfirmed"], row["parts_done"], row["sent_at"]) == ("sent", 2, 2, lapsed)


async def test_a_failed_delivery_is_given_back_until_it_is_given_up(port):
    outbox_id = await queue(port, 1)
    outbox = port.storage.outbox
    for _ in range(2):
        [item] = await outbox.claim(10, NOW)
        await outbox.done(item.id, NOW, False, 2)
    assert await outbox.claim(10, NOW) == []
    [row] = (await port.reports.rows_about(1))["outbox"]
    assert (row["id"], row["status"], row["attempts"]) == (outbox_id, "failed", 2)


async def test_due_prompts_are_listed_oldest_first_and_claimed_once(port):
    await keep(
        port, 1, State("idle"), SchedulePrompt("morning", NOW), SchedulePrompt("session", NOW - timedelta(1))
    )
    await keep(port, 2, State("idle"), SchedulePrompt("session", NOW), SchedulePrompt("weekly", LATER))
    due = await port.storage.due_prompts(NOW, 10)
    assert len(due) == 3 and due[0] == (await port.storage.due_prompts(NOW, 1))[0]
    assert len(await port.storage.due_prompts(NOW, 10, user_id=2)) == 1

    async with port.storage.unit_of_work(NOW) as work:
        # One a user per claim: user 1's morning prompt waits for the next claim, with this turn's state.
        claim = await work.claim_prompts(due)
        claimed = claim.turns
        assert claim.waiting == set(due) - {c.prompt_id for c in claimed}  # user 1's morning prompt
        assert [(c.opened.user_id, c.kind, c.due_at) for c in claimed] == [
            (1, "session", NOW - timedelta(1)),
            (2, "session", NOW),
        ]
        assert claimed[0].opened.state == State("idle") and claimed[0].opened.known
        await work.prompt_sent(due[0])
        await work.release_prompt(claimed[1].prompt_id)  # its turn failed: pending again
        await work.commit()
    async with port.storage.unit_of_work(NOW) as work:
        assert (await work.claim_prompts([due[0]])).turns == []
    assert due[0] not in await port.storage.due_prompts(NOW, 10)
    statuses = {p["kind"]: p["status"] for p in (await port.reports.rows_about(1))["prompts"]}
    assert statuses == {"session": "sent", "morning": "pending"}
    [prompt] = [p for p in (await port.reports.rows_about(2))["prompts"] if p["kind"] == "session"]
    assert (prompt["status"], prompt["handled_at"]) == ("pending", None)


async def test_an_unreachable_user_s_prompt_is_skipped(port):
    await keep(port, 1, State("idle"), SchedulePrompt("session", NOW))
    await port.storage.mark_inactive(1)
    [due] = await port.storage.due_prompts(NOW, 10)
    async with port.storage.unit_of_work(NOW) as work:
        assert (await work.claim_prompts([due])).turns == []
        await work.commit()
    assert await port.storage.due_prompts(NOW, 10) == []
    [prompt] = (await port.reports.rows_about(1))["prompts"]
    assert (prompt["status"], prompt["handled_at"]) == ("skipped", NOW)


async def test_a_new_prompt_replaces_the_pending_one_of_its_kind_and_cancelling_removes_them(port):
    await keep(port, 1, State("idle"), SchedulePrompt("session", NOW), SchedulePrompt("morning", NOW))
    await keep(port, 1, State("idle"), SchedulePrompt("session", LATER))
    kinds = [(p["kind"], p["due_at"]) for p in (await port.reports.rows_about(1))["prompts"]]
    assert sorted(kinds) == [("morning", NOW), ("session", LATER)]
    await keep(port, 1, State("idle"), CancelPrompts(("morning",)))
    assert [p["kind"] for p in (await port.reports.rows_about(1))["prompts"]] == ["session"]
    await keep(port, 1, State("idle"), CancelPrompts(()))
    assert (await port.reports.rows_about(1))["prompts"] == []


async def test_the_morning_answer_goes_to_every_unanswered_check_in_since(port):
    check_in = RecordCheckIn("glute_bridge", 2, "ok", "smooth")
    await keep(port, 1, State("idle"), check_in, now=NOW - timedelta(days=2))
    await keep(port, 1, State("idle"), check_in, now=NOW)
    await keep(port, 1, State("idle"), RecordMorning("better", NOW - timedelta(hours=1)), now=LATER)
    rows = (await port.reports.rows_about(1))["check_ins"]
    assert [r["morning"] for r in rows] == [None, "better"]


async def test_forgetting_deletes_every_row_about_the_user_and_no_one_else_s(port):
    await keep(port, 1, State("idle"), RecordConsent(True), SchedulePrompt("session", NOW))
    await keep(port, 2, State("idle"), RecordConsent(True))
    await queue(port, 1)
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(1)
        await work.record_update(1, 99)
        await work.forget(1)
        await work.commit()
    assert all(rows == [] for rows in (await port.reports.rows_about(1)).values())
    assert await port.storage.load_state(1) == State()
    assert (await port.reports.rows_about(2))["users"] != []


async def delete_by_update(port: Port, user_id: int, update_id: int, now: datetime = NOW) -> None:
    """The user's 'delete: yes' turn, as the coach commits it."""
    async with port.storage.unit_of_work(now) as work:
        assert not (await work.open_user(user_id, update_id)).deleted
        await work.forget(user_id, update_id)
        await work.commit()


async def opened_by(port: Port, user_id: int, update_id: int, now: datetime = LATER, commit: bool = False):
    async with port.storage.unit_of_work(now) as work:
        opened = await work.open_user(user_id, update_id)
        if commit:
            await work.save(user_id, State("consent"))
            await work.commit()
    return opened


async def test_an_update_up_to_the_one_that_deleted_the_user_opens_them_deleted_and_keeps_nothing(port):
    await keep(port, 1, State("idle"), RecordConsent(True))
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(1, 12)
        await work.record_update(1, 12)
        await work.commit()
    await delete_by_update(port, 1, 11)  # handled after update 12 (another replica): 12 is the last
    for update_id in (12, 11, 5):
        opened = await opened_by(port, 1, update_id)
        assert opened.deleted and not opened.known and opened.state == State()
    assert all(rows == [] for rows in (await port.reports.rows_about(1)).values())


async def test_a_newer_update_after_the_deletion_starts_the_user_afresh_and_the_tombstone_is_not_theirs(port):
    await keep(port, 1, State("idle"))
    await delete_by_update(port, 1, 12)
    opened = await opened_by(port, 1, 13, commit=True)
    assert not opened.deleted and not opened.known
    rows = await port.reports.rows_about(1)
    assert [user["created_at"] for user in rows["users"]] == [LATER]
    assert set(rows) == {"users", *USER_TABLES}  # export and /delete see no tombstone
    assert (await opened_by(port, 1, 12)).deleted  # the old redelivery still changes nothing


async def test_a_deletion_without_an_update_or_by_the_retention_sweep_leaves_no_tombstone(port):
    await keep(port, 1, State("idle"))
    await keep(port, 2, State("idle"), now=NOW - timedelta(days=40))
    async with port.storage.unit_of_work(NOW) as work:
        await work.open_user(1)
        await work.forget(1)  # the terminal's /delete
        await work.commit()
    assert await port.storage.forget_inactive(NOW - timedelta(days=30)) == 1
    assert not (await opened_by(port, 1, 1)).deleted and not (await opened_by(port, 2, 1)).deleted
    assert await port.storage.forget_tombstones(LATER) == 0


async def test_tombstones_are_dropped_once_their_window_is_over_and_not_before(port):
    await delete_by_update(port, 1, 12)
    await delete_by_update(port, 2, 30, now=LATER)
    assert await port.storage.forget_tombstones(NOW) == 0
    assert await port.storage.forget_tombstones(LATER) == 1
    assert not (await opened_by(port, 1, 12)).deleted and (await opened_by(port, 2, 30)).deleted


async def test_the_retention_sweep_forgets_only_those_not_seen_since_the_cutoff(port):
    await keep(port, 1, State("idle"), now=NOW - timedelta(days=40))
    await keep(port, 2, State("idle"), now=NOW)
    assert await port.storage.forget_inactive(NOW - timedelta(days=30)) == 1
    assert (await port.reports.rows_about(1))["users"] == []
    assert (await port.reports.rows_about(2))["users"] != []


async def test_writing_again_makes_an_unreachable_user_reachable(port):
    await keep(port, 1, State("idle"))
    await port.storage.mark_inactive(1)
    assert not (await port.reports.rows_about(1))["users"][0]["active"]
    await keep(port, 1, State("idle"), now=LATER)
    [user] = (await port.reports.rows_about(1))["users"]
    assert user["active"] and user["last_seen_at"] == LATER


async def test_rows_about_a_user_and_the_aggregate_figures_read_alike(port):
    await keep(
        port,
        1,
        State("idle", {"k": [1, 2]}),
        RecordConsent(True),
        SetPosition("hinge", "glute_bridge", "start"),
    )
    await keep(port, 1, State("idle"), SetPosition("hinge", "standing_hip_hinge", "up"), now=LATER)
    await keep(port, 2, State("idle"), SetPosition("hinge", "standing_hip_hinge", "start"))
    await keep(port, 3, State("idle"), RecordCheckIn("glute_bridge", 2, "ok", "smooth", "back"), now=LATER)

    rows = await port.reports.rows_about(1)
    assert without_ids(rows["rung_changes"]) == [
        {"user_id": 1, "ladder": "hinge", "exercise": "glute_bridge", "reason": "start", "changed_at": NOW},
        {
            "user_id": 1,
            "ladder": "hinge",
            "exercise": "standing_hip_hinge",
            "reason": "up",
            "changed_at": LATER,
        },
    ]
    assert rows["dialogue_states"] == [{"user_id": 1, "name": "idle", "data": {}, "updated_at": LATER}]
    assert set(rows) == {"users", *USER_TABLES}
    [check_in] = without_ids((await port.reports.rows_about(3))["check_ins"])
    assert check_in == {
        "user_id": 3, "exercise": "glute_bridge", "pain": 2, "effort": "ok", "control": "smooth",
        "location": "back", "morning": None, "checked_in_at": LATER,
    }  # fmt: skip
    assert await port.reports.aggregate_stats(LATER) == {
        "users": 3,
        "active_week": 3,
        "sessions_week": 1,
        "red_flags": 0,
        "ladder_stops": [("standing_hip_hinge", 2)],
    }
