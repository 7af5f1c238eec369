"""The storage port in memory, with the SQL one's semantics (tests/integration/test_storage_contract.py).

One unit of work at a time, as on SQLite: a turn holds every user's lock, so the per-user order and
the claims hold trivially. A unit of work left without `commit` puts everything back as it was.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hipcoach.bot.storage.claims import HEARTBEAT, OUTBOX_LEASE, Batch, Claims, Mark
from hipcoach.bot.storage.history import Lifetimes
from hipcoach.bot.storage.outbox import CANDIDATES, LeasedOutbox, in_order
from hipcoach.bot.storage.port import (
    ClaimedPrompt,
    ClaimedPrompts,
    ClaimedReply,
    Opened,
    Payload,
    Queued,
    tombstone_hash,
)
from hipcoach.flows.values import (
    CancelPrompts,
    ClearScreening,
    Effect,
    ForgetUser,
    NotifyCoach,
    RecordAnswer,
    RecordCheckIn,
    RecordConsent,
    RecordDecision,
    RecordGoal,
    RecordMorning,
    RecordRedFlag,
    SchedulePrompt,
    SetPosition,
    State,
)

# The tables of bot/storage/models.py that hold rows about a user, in the order rows_about lists them.
USER_TABLES = (
    "dialogue_states",
    "screening_answers",
    "safety_events",
    "rung_changes",
    "check_ins",
    "decisions",
    "prompts",
    "outbox",
    "goal_ratings",
    "processed_updates",
)


@dataclass
class Tables:
    """Every row, as the SQL tables hold them (same columns), and the effects applied per user."""

    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in USER_TABLES})
    effects: dict[int, list[Effect]] = field(default_factory=dict)
    # Deleted users by keyed hash: the last update id handled before, and when (no row about anyone).
    tombstones: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_id: int = 0

    def add(self, table: str, **row: Any) -> dict[str, Any]:
        if table not in ("dialogue_states", "screening_answers", "processed_updates"):
            self.last_id += 1
            row = {"id": self.last_id, **row}
        self.rows[table].append(row)
        return row

    def remove(self, table: str, **where: Any) -> None:
        self.rows[table] = [r for r in self.rows[table] if any(r[k] != v for k, v in where.items())]

    def find(self, table: str, **where: Any) -> list[dict[str, Any]]:
        return [r for r in self.rows[table] if all(r[k] == v for k, v in where.items())]


class FakeStorage:
    """The storage port in memory. `fail_next`: the next unit of work raises it as it opens."""

    def __init__(self, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.tables = Tables()
        self.lock = asyncio.Lock()
        self.fail_next: Exception | None = None
        self.outbox = FakeOutbox(self, outbox_lease)
        self.tombstone_key = secrets.token_bytes(32)

    def live_keyboards(self, user_id: int) -> tuple[int, ...]:
        user = self.tables.users.get(user_id) or {}
        return tuple(user.get("live_keyboards") or ())

    @property
    def states(self) -> dict[int, State]:
        return {
            r["user_id"]: State(r["name"], copy.deepcopy(r["data"]))
            for r in self.tables.rows["dialogue_states"]
        }

    @property
    def effects(self) -> dict[int, list[Effect]]:
        return self.tables.effects

    @asynccontextmanager
    async def unit_of_work(self, now: datetime) -> AsyncIterator[FakeUnitOfWork]:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        async with self.lock:
            work = FakeUnitOfWork(self, now)
            try:
                yield work
            finally:
                if not work.committed:
                    await work.rollback()

    async def due_prompts(self, now: datetime, limit: int, user_id: int | None = None) -> list[int]:
        due = [
            p
            for p in self.tables.rows["prompts"]
            if p["status"] == "pending" and p["due_at"] <= now and user_id in (None, p["user_id"])
        ]
        return [p["id"] for p in sorted(due, key=lambda p: p["due_at"])[:limit]]

    async def load_state(self, user_id: int) -> State:
        return self.states.get(user_id, State())

    async def mark_inactive(self, user_id: int) -> None:
        async with self.lock:
            if user_id in self.tables.users:
                self.tables.users[user_id]["active"] = False

    async def forget_inactive(self, cutoff: datetime) -> int:
        async with self.lock:
            ids = [i for i, user in self.tables.users.items() if user["last_seen_at"] < cutoff]
            for user_id in ids:
                forget(self.tables, user_id)
        return len(ids)

    async def forget_tombstones(self, cutoff: datetime) -> int:
        async with self.lock:
            tombstones = self.tables.tombstones
            expired = [key for key, tombstone in tombstones.items() if tombstone["deleted_at"] < cutoff]
            for key in expired:
                del tombstones[key]
        return len(expired)

    async def prune_history(self, now: datetime, batch: int) -> dict[str, int]:
        """As SqlHistory: at most `batch` of each kind of history past its lifetime, oldest first."""
        lives = Lifetimes()
        old = {  # table: (when it happened, whether it is history at all, its lifetime)
            "processed_updates": ("processed_at", lambda r: True, lives.processed_updates),
            "outbox": ("sent_at", lambda r: r["status"] == "sent", lives.sent_outbox),
            "prompts": ("handled_at", lambda r: r["status"] != "pending", lives.handled_prompts),
        }
        pruned = {}
        async with self.lock:
            for table, (when, history, lifetime) in old.items():
                rows = self.tables.rows[table]
                expired = [r for r in rows if history(r) and r[when] and r[when] < now - lifetime]
                gone = {id(r) for r in sorted(expired, key=lambda r: r[when])[:batch]}
                self.tables.rows[table] = [r for r in rows if id(r) not in gone]
                pruned[table] = len(gone)
        return pruned


def forget(tables: Tables, user_id: int) -> None:
    for table in USER_TABLES:
        tables.remove(table, user_id=user_id)
    tables.users.pop(user_id, None)
    tables.effects.pop(user_id, None)


class FakeUnitOfWork:
    """Writes straight into the tables, keeping a copy to put back on rollback."""

    def __init__(self, storage: FakeStorage, now: datetime) -> None:
        self.storage = storage
        self.now = now
        self.before = copy.deepcopy(storage.tables)
        self.committed = False

    @property
    def tables(self) -> Tables:
        return self.storage.tables

    async def open_user(self, user_id: int, update_id: int | None = None) -> Opened:
        tombstone = self.tables.tombstones.get(tombstone_hash(self.storage.tombstone_key, user_id))
        if update_id is not None and tombstone is not None and update_id <= tombstone["last_update_id"]:
            return Opened(user_id, State(), known=False, deleted=True)
        user = self.tables.users.setdefault(
            user_id,
            {"id": user_id, "created_at": self.now, "consented_at": None, "live_keyboards": None},
        )
        user.update(last_seen_at=self.now, active=True)
        return self._opened(user_id)

    def _opened(self, user_id: int) -> Opened:
        [*row] = self.tables.find("dialogue_states", user_id=user_id)
        state = State(row[0]["name"], copy.deepcopy(row[0]["data"])) if row else State()
        return Opened(user_id, state, bool(row))

    async def claim_prompts(self, prompt_ids: Sequence[int]) -> ClaimedPrompts:
        wanted = set(prompt_ids)
        pending = [p for p in self.tables.rows["prompts"] if p["id"] in wanted and p["status"] == "pending"]
        turns: list[ClaimedPrompt] = []
        waiting = set()
        for prompt in sorted(pending, key=lambda p: (p["due_at"], p["id"])):
            user_id = prompt["user_id"]
            if not self.tables.users[user_id]["active"]:
                prompt.update(handled_at=self.now, status="skipped")
            elif any(turn.opened.user_id == user_id for turn in turns):
                waiting.add(prompt["id"])
            else:
                prompt.update(handled_at=self.now, status="skipped")
                opened = self._opened(user_id)
                turns.append(ClaimedPrompt(opened, prompt["id"], prompt["kind"], prompt["due_at"]))
        return ClaimedPrompts(turns, frozenset(waiting))

    async def release_prompt(self, prompt_id: int) -> None:
        for prompt in self.tables.find("prompts", id=prompt_id):
            prompt.update(status="pending", handled_at=None)

    async def seen_update(self, update_id: int) -> bool:
        return bool(self.tables.find("processed_updates", update_id=update_id))

    async def record_update(self, user_id: int, update_id: int) -> None:
        self.tables.add("processed_updates", update_id=update_id, user_id=user_id, processed_at=self.now)

    async def apply(self, user_id: int, effects: Sequence[Effect]) -> None:
        for effect in effects:
            self._apply(user_id, effect)
            self.tables.effects.setdefault(user_id, []).append(effect)

    async def save(self, user_id: int, state: State) -> None:
        self.tables.remove("dialogue_states", user_id=user_id)
        self.tables.add(
            "dialogue_states",
            user_id=user_id,
            name=state.name,
            data=copy.deepcopy(dict(state.data)),
            updated_at=self.now,
        )

    async def queue(self, user_id: int, payload: Payload, claimed: bool) -> ClaimedReply | None:
        row = self.tables.add(
            "outbox",
            user_id=user_id,
            payload=copy.deepcopy(payload),
            created_at=self.now,
            status="sending" if claimed else "pending",
            attempts=0,
            sent_at=None,
            claimed_at=self.now if claimed else None,
            parts_done=0,
            part_in_flight=None,
            unconfirmed=0,
        )
        if not claimed:
            return None
        earlier = self.tables.find("outbox", user_id=user_id)
        if any(r["id"] < row["id"] and to_be_sent(r) for r in earlier):
            return ClaimedReply(row["id"], claimed_at=self.now)
        return ClaimedReply(row["id"], False, self.storage.live_keyboards(user_id), self.now)

    async def prompt_sent(self, prompt_id: int) -> None:
        for prompt in self.tables.find("prompts", id=prompt_id):
            prompt["status"] = "sent"

    async def forget(self, user_id: int, update_id: int | None = None) -> None:
        if update_id is not None:
            handled = [r["update_id"] for r in self.tables.find("processed_updates", user_id=user_id)]
            user_hash = tombstone_hash(self.storage.tombstone_key, user_id)
            before = self.tables.tombstones.get(user_hash, {}).get("last_update_id", 0)
            last = max(update_id, before, *handled)
            self.tables.tombstones[user_hash] = {"last_update_id": last, "deleted_at": self.now}
        forget(self.tables, user_id)

    async def commit(self) -> None:
        self.committed = True

    async def rollback(self) -> None:
        self.storage.tables = copy.deepcopy(self.before)

    def _apply(self, user_id: int, effect: Effect) -> None:
        tables, now = self.tables, self.now
        match effect:
            case RecordConsent(given=given):
                tables.users[user_id]["consented_at"] = now if given else None
            case RecordAnswer(question=question, value=value):
                tables.remove("screening_answers", user_id=user_id, question=question)
                tables.add(
                    "screening_answers", user_id=user_id, question=question, value=value, answered_at=now
                )
            case RecordRedFlag(tier=tier, signs=signs, state=where):
                tables.add(
                    "safety_events", user_id=user_id, tier=tier, signs=list(signs), state=where, raised_at=now
                )
            case SetPosition(ladder=ladder, exercise=exercise, reason=reason):
                tables.add(
                    "rung_changes",
                    user_id=user_id,
                    ladder=ladder,
                    exercise=exercise,
                    reason=reason,
                    changed_at=now,
                )
            case ClearScreening():
                tables.remove("screening_answers", user_id=user_id)
            case RecordCheckIn():
                tables.add("check_ins", user_id=user_id, **vars(effect), morning=None, checked_in_at=now)
            case RecordMorning(answer=answer, since=since):
                for row in tables.find("check_ins", user_id=user_id, morning=None):
                    if row["checked_in_at"] >= since:
                        row["morning"] = answer
            case RecordDecision(kind=kind, exercise=exercise, reason=reason):
                tables.add(
                    "decisions", user_id=user_id, kind=kind, exercise=exercise, reason=reason, decided_at=now
                )
            case SchedulePrompt(kind=kind, due_at=due_at):
                self._cancel(user_id, (kind,))
                tables.add(
                    "prompts", user_id=user_id, kind=kind, due_at=due_at, status="pending", handled_at=None
                )
            case CancelPrompts(kinds=kinds):
                self._cancel(user_id, kinds)
            case RecordGoal(activity=activity, score=score):
                tables.add("goal_ratings", user_id=user_id, activity=activity, score=score, rated_at=now)
            case NotifyCoach() | ForgetUser():
                pass
            case _:
                raise TypeError(f"unknown effect {type(effect).__name__}")

    def _cancel(self, user_id: int, kinds: tuple[str, ...]) -> None:
        self.tables.rows["prompts"] = [
            p
            for p in self.tables.rows["prompts"]
            if not (
                p["user_id"] == user_id and p["status"] == "pending" and (not kinds or p["kind"] in kinds)
            )
        ]


class FakeBook:
    """The outbox table in memory, written as SqlBook writes it (bot/storage/outbox.py)."""

    def __init__(self, storage: FakeStorage) -> None:
        self.storage = storage
        self.transactions = 0

    def row(self, outbox_id: int) -> dict[str, Any]:
        [found] = self.storage.tables.find("outbox", id=outbox_id)
        return found

    def _row(self, outbox_id: int) -> dict[str, Any] | None:
        found = self.storage.tables.find("outbox", id=outbox_id)
        return found[0] if found else None  # forgotten meanwhile: as an UPDATE of no row

    async def write(self, batch: Batch) -> set[int]:
        async with self.storage.lock:
            self.transactions += 1
            adopted = {
                outbox_id
                for outbox_id in batch.adopt
                if (row := self._row(outbox_id)) is not None
                and row["status"] == "sending"
                and (batch.live_since is None or row["claimed_at"] >= batch.live_since)
            }
            ours = batch.held | adopted
            for outbox_id in batch.refresh | adopted:
                row = self._row(outbox_id)
                if row is not None and row["status"] == "sending" and batch.beat is not None:
                    row["claimed_at"] = batch.beat
            for mark in batch.marks:
                row = self._row(mark.outbox_id)
                if row is not None and mark.outbox_id in ours:
                    self._mark(row, mark)
                    user = self.storage.tables.users.get(row["user_id"])
                    if user is not None and mark.keyboards is not None:
                        user["live_keyboards"] = list(mark.keyboards) or None
            return adopted

    @staticmethod
    def _mark(row: dict[str, Any], mark: Mark) -> None:
        settled = {"claimed_at": None, "part_in_flight": None}
        if mark.kind == "sending":
            row.update(parts_done=mark.part, part_in_flight=mark.part)
        elif mark.kind == "unconfirmed":
            row.update(parts_done=mark.part + 1, part_in_flight=None, unconfirmed=row["unconfirmed"] + 1)
        elif mark.kind == "sent":
            row.update(status="sent", sent_at=mark.at, **settled)
        elif mark.kind == "failed":
            attempts = row["attempts"] + 1
            row.update(status="failed" if attempts >= mark.give_up_after else "pending", attempts=attempts)
            row.update(settled)
        else:  # released
            row.update(status="pending", **settled)

    async def earlier_unsent(self, outbox_id: int, user_id: int) -> bool:
        return any(
            row["id"] < outbox_id and to_be_sent(row)
            for row in self.storage.tables.find("outbox", user_id=user_id)
        )


def to_be_sent(row: dict[str, Any]) -> bool:
    """As bot/storage/outbox.py: pending, or claimed by a sender (alive, or dead until claimed again)."""
    return row["status"] in ("pending", "sending")


class FakeOutbox(LeasedOutbox):
    """The outbox port in memory: claims with a lease and a heartbeat, grouped marks, as SqlOutbox."""

    def __init__(
        self,
        storage: FakeStorage,
        lease: timedelta,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.storage = storage
        self.book = FakeBook(storage)
        super().__init__(Claims(self.book, lease, sleep, heartbeat))

    async def _claim(self, limit: int, now: datetime, user_id: int | None = None) -> list[Queued]:
        stale = now - self.lease
        async with self.storage.lock:
            outbox = self.storage.tables.rows["outbox"]
            candidates = [
                SimpleNamespace(**r)
                for r in sorted(outbox, key=lambda r: r["id"])
                if user_id in (None, r["user_id"])
                and (r["status"] == "pending" or (r["status"] == "sending" and r["claimed_at"] < stale))
            ][: CANDIDATES * limit]
            unsent = [(r["user_id"], r["id"]) for r in outbox if to_be_sent(r)]
            kept = in_order(candidates, unsent)[:limit]
            return [self._claim_row(self.book.row(row.id), now) for row in kept]

    def _claim_row(self, row: dict[str, Any], now: datetime) -> Queued:
        lapsed = row["part_in_flight"] is not None
        if lapsed:
            row.update(
                parts_done=row["part_in_flight"] + 1, unconfirmed=row["unconfirmed"] + 1, part_in_flight=None
            )
        row.update(status="sending", claimed_at=now)
        keyboards = self.storage.live_keyboards(row["user_id"])
        return Queued(
            row["id"], row["user_id"], copy.deepcopy(row["payload"]), row["parts_done"], lapsed, keyboards
        )


class FakeReports:
    """The reporting port over a FakeStorage's tables."""

    def __init__(self, storage: FakeStorage) -> None:
        self.storage = storage

    async def rows_about(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        tables = self.storage.tables
        user = tables.users.get(user_id)
        result = {"users": [copy.deepcopy(user)] if user else []}
        for table in USER_TABLES:
            result[table] = copy.deepcopy(tables.find(table, user_id=user_id))
        return result

    async def aggregate_stats(self, now: datetime) -> dict[str, Any]:
        tables, week = self.storage.tables, now - timedelta(days=7)
        latest: dict[int, dict[str, Any]] = {}
        for change in tables.rows["rung_changes"]:
            latest[change["user_id"]] = change  # rows are in id order
        stops = Counter(change["exercise"] for change in latest.values())
        return {
            "users": len(tables.users),
            "active_week": sum(u["last_seen_at"] >= week for u in tables.users.values()),
            "sessions_week": sum(c["checked_in_at"] >= week for c in tables.rows["check_ins"]),
            "red_flags": len(tables.rows["safety_events"]),
            "ladder_stops": sorted(stops.items(), key=lambda item: (-item[1], item[0])),
        }
