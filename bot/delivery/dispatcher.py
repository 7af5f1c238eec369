"""The dispatcher: claims due prompts, runs their turns, and hands the messages to a sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from hipcoach.bot.coach import Clock, Coach, Observer, Sender, Unobserved
from hipcoach.bot.delivery.ordering import KeyedOrder
from hipcoach.bot.storage.port import REDELIVERY_WINDOW, Queued, Storage

log = logging.getLogger(__name__)


OUTBOX_CLAIM = 20  # outbox rows claimed at a time
SENDERS = 16  # outbox rows delivered at once, at Telegram's usual 30 messages/s
MOST_SENDERS = 128


def senders_for(send_rate: int) -> int:
    """Outbox rows to deliver at once for a send rate (messages/s, all replicas): a quarter of it, so a
    round trip of up to a quarter second keeps the rate busy, and 16 at least.

    Not more: senders beyond what the rate needs only wait for its slots together, and when a busy
    process stalls they go out together; with 64 at 80 messages/s, up to 113 reached Telegram in one
    second (the replicas chaos case), with 16 at most 80.
    """
    return max(SENDERS, min(MOST_SENDERS, math.ceil(send_rate / 4)))


# Due prompts claimed by one statement, their turns kept in one transaction: a failed commit puts back
# this many, and their users' turns wait for it (tens of milliseconds).
PROMPTS_PER_TURN = 50


@dataclass
class _Claim:
    """How one claim's rows went: a claim whose every row failed means Telegram is not taking any."""

    rows: int
    finished: int = 0
    succeeded: int = 0

    @property
    def all_failed(self) -> bool:
        return self.finished == self.rows > 0 and not self.succeeded


class Dispatcher:
    """Due prompts become committed outbox rows; outbox rows become messages, each sent once."""

    def __init__(
        self,
        coach: Coach,
        storage: Storage,
        sender: Sender,
        clock: Clock,
        observer: Observer | None = None,
        batch: int = 200,
        claim: int = OUTBOX_CLAIM,
        retention: timedelta | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        senders: int = SENDERS,
        prompts_per_turn: int = PROMPTS_PER_TURN,
    ) -> None:
        self.coach = coach  # takes the prompts' turns and delivers
        self.storage = storage
        self.sender = sender
        self.clock = clock
        self.observer = observer or Unobserved()
        self.batch = batch
        self.claim = claim  # outbox rows claimed at a time, and queued before the sending is woken
        self.retention = retention
        self.monotonic = monotonic
        self.senders = senders  # rows delivered at once; one user's one after another (`order`)
        self.prompts_per_turn = prompts_per_turn
        self.order = KeyedOrder()
        self.heartbeat: float | None = None  # monotonic time of the loop's last progress
        self.stop: asyncio.Event | None = None  # set: the current round ends after its current prompt

    def since_heartbeat(self) -> float | None:
        """Seconds since the loop last made progress (a prompt, a delivery, a round), None before any."""
        return None if self.heartbeat is None else self.monotonic() - self.heartbeat

    def beat(self) -> None:
        self.heartbeat = self.monotonic()

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def run_due(self, user_id: int | None = None) -> int:
        """Deliver what a crash left queued, then every prompt due by now (one user's, if given).

        Due prompts become outbox rows while the rows before them are being sent, a claim's worth
        (`claim` rows) at a time, so sending does not wait for a whole batch of turns. Returns how
        many outbox rows were delivered.
        """
        sent, failed = await self._flush(user_id)
        queued = asyncio.Event()
        producing = asyncio.create_task(self._queue_due(user_id, queued))
        try:
            while not producing.done():
                woken = asyncio.create_task(queued.wait())
                await asyncio.wait((producing, woken), return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                queued.clear()
                if not failed:  # once nothing went through, the rest waits for the next round
                    delivered, failed = await self._flush(user_id)
                    sent += delivered
        finally:
            await asyncio.wait((producing,))
        producing.result()
        return sent if failed else sent + (await self._flush(user_id))[0]

    async def _queue_due(self, user_id: int | None, queued: asyncio.Event) -> None:
        """Run the turns of every prompt due by now, `prompts_per_turn` in one transaction; `queued` is set
        each time a claim's worth of outbox rows is queued.

        A prompt tried once this round (its turn taken, or failed) waits for the next round; one left
        pending because its user was busy is asked for again until a pass claims nothing.
        """
        tried: set[int] = set()
        unannounced = 0  # rows queued since `queued` was last set: the sending claims them together
        while True:
            fresh = [
                i for i in await self.storage.due_prompts(self.clock(), self.batch, user_id) if i not in tried
            ]
            progressed = False
            for start in range(0, len(fresh), self.prompts_per_turn):
                if self.stopping:
                    break
                handled = await self.coach.handle_prompts(fresh[start : start + self.prompts_per_turn])
                tried |= handled.tried
                progressed |= bool(handled.tried)
                for _ in handled.tried:
                    self.observer.prompt_due()
                unannounced += handled.queued
                if unannounced >= self.claim:
                    queued.set()
                    unannounced = 0
                self.beat()
            if not progressed or self.stopping:
                return

    async def flush(self, user_id: int | None = None) -> int:
        """Send queued messages in order; returns how many outbox rows were delivered."""
        return (await self._flush(user_id))[0]

    async def _flush(self, user_id: int | None) -> tuple[int, bool]:
        """Send queued rows until none is left or none goes through; (rows delivered, whether stuck).

        Rows go `senders` at a time, each user's in the order queued: a user whose chat is slow (a 429
        wait, a send Telegram does not answer) holds up their own rows only. A new claim is made while
        fewer than `senders` rows are in hand, so the sending never runs dry behind a slow row.
        """
        slots = asyncio.Semaphore(self.senders)
        in_hand: set[asyncio.Task[bool]] = set()
        claims: list[_Claim] = []
        delivered, more = 0, True
        try:
            while True:
                # When a whole claim fails (Telegram unreachable), the rest waits for the next round
                # rather than being hammered now.
                stuck = any(claim.all_failed for claim in claims)
                if more and not stuck and not self.stopping and len(in_hand) < self.senders:
                    # Small claims: replicas share the sending, and a crash strands few rows until the
                    # lease lapses.
                    queued = await self.storage.outbox.claim(self.claim, self.clock(), user_id)  # ours alone
                    more = len(queued) == self.claim
                    claims.append(claim := _Claim(len(queued)))
                    in_hand |= {self._sending(item, claim, slots) for item in queued}
                if not in_hand:
                    return delivered, stuck
                done, in_hand = await asyncio.wait(in_hand, return_when=asyncio.FIRST_COMPLETED)
                delivered += sum(task.result() for task in done)
        except asyncio.CancelledError:
            for task in in_hand:
                task.cancel()
            raise
        finally:
            if in_hand:  # every claimed row is settled, delivered or given back
                await asyncio.wait(in_hand)

    def _sending(self, item: Queued, claim: _Claim, slots: asyncio.Semaphore) -> asyncio.Task[bool]:
        """Deliver one claimed row once its user's earlier rows are done and a sender is free."""
        return asyncio.create_task(self._send_in_turn(item, claim, slots))

    async def _send_in_turn(self, item: Queued, claim: _Claim, slots: asyncio.Semaphore) -> bool:
        try:
            async with self.order(item.user_id), slots:
                if item.lapsed_in_flight:
                    self.observer.unconfirmed()
                ok = await self.deliver(item)
                self.beat()
        finally:  # settled by now, unless cancelled before or during its delivery: then its claim lapses
            self.storage.outbox.let_go(item.id)
        claim.finished += 1
        claim.succeeded += ok
        return ok

    async def deliver(self, item: Queued) -> bool:
        """Send one claimed row from its first unsettled part, then mark it sent or give it back."""
        ok = await self.coach.deliver_queued(item, self.sender)
        self.observer.delivered(ok)
        return ok

    async def prune(self, batch: int = 1_000, batches: int = 10) -> int:
        """Drop deleted users' tombstones once Telegram can no longer redeliver their updates; delete
        history past its lifetime (bot/storage/history.py); forget users inactive for longer than the
        retention setting, if there is one (returns how many).

        History goes `batch` rows of each kind a transaction, at most `batches` times a round: a round
        stays short, and what is left goes next round (10,000 rows of each kind every 5 s or so, far
        more than a bot writes).
        """
        await self.storage.forget_tombstones(self.clock() - REDELIVERY_WINDOW)
        for _ in range(batches):
            pruned = await self.storage.prune_history(self.clock(), batch)
            log.debug("history pruned %s", pruned)
            if max(pruned.values(), default=0) < batch or self.stopping:
                break
        if self.retention is None:
            return 0
        forgotten = await self.storage.forget_inactive(self.clock() - self.retention)
        if forgotten:
            log.info("retention: forgot %d inactive users", forgotten)
        return forgotten

    async def run_forever(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Poll for due prompts until `stop` is set."""
        self.stop = stop
        while not stop.is_set():
            try:
                await self.run_due()
                await self.prune()
            except Exception as error:  # keep dispatching; the next round retries
                log.error("dispatch round failed error=%s", type(error).__name__)
            else:
                self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
