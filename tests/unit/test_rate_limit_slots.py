"""The send-slot rules under a backlog: every slot of a second taken, none over the rate where Telegram
counts (when a message arrives), however late senders wake or however long their notes take."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hipcoach.bot.delivery.dispatcher import senders_for
from hipcoach.bot.delivery.rate_limit import SPREAD, LocalSendLimiter
from hipcoach.bot.telegram.sender import TelegramSender
from tests.simulated_time import SimulatedTime

START = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
RATE = 30
SENDERS = 16
ROUND_TRIP = 0.05
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Sent:
    started: datetime  # when the request left
    arrived: datetime  # when Telegram counted it


async def no_one_blocked(user_id: int) -> None:
    raise AssertionError("nobody blocked the bot")


def stalling(time: SimulatedTime, most: float, seed: int = 16) -> Sleep:
    """A loaded event loop: busy (a turn's CPU work, another process) for up to `most` seconds at a
    time, about every 0.1 s; a sleep that ends while it is busy ends when it is free again."""
    draw = random.Random(seed)
    stalls: list[tuple[datetime, datetime]] = []
    moment = time.now
    for _ in range(2_000):
        moment += timedelta(seconds=draw.expovariate(10))
        stalls.append((moment, moment + timedelta(seconds=draw.uniform(0, most))))
        moment = stalls[-1][1]

    async def sleep(seconds: float) -> None:
        wake = time.now + timedelta(seconds=seconds)
        free = next((end for start, end in stalls if start <= wake < end), wake)
        await time.sleep((free - time.now).total_seconds())

    return sleep


async def backlog(
    time: SimulatedTime, limiter: LocalSendLimiter, sleep: Sleep, sends: int, note: float = 0.005
) -> list[Sent]:
    """`SENDERS` senders each sending `sends` messages back to back through the sender's limited call:
    a slot, the in-flight note (`note` seconds), the request (arriving after a round trip, +-20%)."""
    trips = random.Random(7)
    sent: list[Sent] = []

    async def one_sender() -> None:
        sender = TelegramSender(object(), no_one_blocked, sleep, limiter=limiter)  # type: ignore[arg-type]
        for _ in range(sends):

            async def request() -> None:
                trip = ROUND_TRIP * trips.uniform(0.8, 1.2)
                sent.append(Sent(time.now, time.now + timedelta(seconds=trip)))
                await sleep(trip)

            await sender.call(request, limited=True, before=lambda: sleep(note))

    await time.run(*(one_sender() for _ in range(SENDERS)))
    return sent


def per_second(moments: list[datetime]) -> list[int]:
    """Messages in each whole second, from the first to the last."""
    counts = Counter(moment.replace(microsecond=0) for moment in moments)
    first, last = min(counts), max(counts)
    return [counts[first + timedelta(seconds=n)] for n in range(int((last - first).total_seconds()) + 1)]


def busiest_sliding_second(moments: list[datetime]) -> int:
    ordered = sorted(moments)
    return max(
        sum(1 for other in ordered[index:] if other - moment < timedelta(seconds=1))
        for index, moment in enumerate(ordered)
    )


async def test_a_steady_backlog_takes_every_slot_of_every_second_and_no_more():
    time = SimulatedTime(START)
    sent = await backlog(time, LocalSendLimiter(RATE, time.clock, time.sleep), time.sleep, sends=40)

    arrivals = per_second([each.arrived for each in sent])
    assert arrivals[:-1] == [RATE] * (len(arrivals) - 1)  # every whole second full, the last one partly
    assert busiest_sliding_second([each.arrived for each in sent]) <= RATE + 1


async def test_senders_woken_late_by_a_loaded_loop_still_take_every_slot():
    time = SimulatedTime(START)
    sleep = stalling(time, most=0.15)
    sent = await backlog(time, LocalSendLimiter(RATE, time.clock, sleep), sleep, sends=40)

    arrivals = per_second([each.arrived for each in sent])
    # A send woken so late that it would start in a second's last quarter takes a later slot instead.
    assert max(arrivals) <= RATE
    assert sum(arrivals[:-1]) >= 0.95 * RATE * (len(arrivals) - 1)


async def test_slow_in_flight_notes_are_begun_before_their_slots_so_no_slot_is_lost():
    time = SimulatedTime(START)
    sent = await backlog(
        time, LocalSendLimiter(RATE, time.clock, time.sleep), time.sleep, sends=40, note=0.25
    )

    arrivals = per_second([each.arrived for each in sent])
    assert max(arrivals) <= RATE
    assert arrivals[2:-1] == [RATE] * (len(arrivals) - 3)  # once notes' time is learnt, every slot


async def test_no_message_arrives_after_its_slots_second_even_when_notes_are_slow():
    time = SimulatedTime(START)
    sleep = stalling(time, most=0.1)
    sent = await backlog(time, LocalSendLimiter(RATE, time.clock, sleep), sleep, sends=20, note=0.25)

    assert max(per_second([each.arrived for each in sent])) <= RATE
    assert all(each.arrived.replace(microsecond=0) == each.started.replace(microsecond=0) for each in sent)


async def test_a_send_whose_note_ran_past_its_slot_takes_the_next_seconds_first_slot():
    time = SimulatedTime(START + timedelta(seconds=0.72))
    limiter = LocalSendLimiter(RATE, time.clock, time.sleep)
    sender = TelegramSender(object(), no_one_blocked, time.sleep, limiter=limiter)  # type: ignore[arg-type]
    started: list[datetime] = []

    async def request() -> None:
        started.append(time.now)

    await time.run(sender.call(request, limited=True, before=lambda: time.sleep(0.2)))

    assert started == [START + timedelta(seconds=1)]
    assert limiter.used == {START: 27, START + timedelta(seconds=1): 1}  # slot 27 given up, unused


async def test_senders_that_find_a_second_full_book_the_next_ones_slots_at_once_in_order():
    time = SimulatedTime(START)
    limiter = LocalSendLimiter(2, time.clock, time.sleep)
    spacing = (SPREAD / 2).total_seconds()

    async def send() -> tuple[datetime, datetime]:
        second = await limiter.acquire()
        return second, time.now

    granted = await time.run(*(send() for _ in range(5)))

    seconds = [START + timedelta(seconds=n) for n in (0, 0, 1, 1, 2)]
    moments = [
        second + timedelta(seconds=n * spacing) for second, n in zip(seconds, (0, 1, 0, 1, 0), strict=True)
    ]
    assert granted == list(zip(seconds, moments, strict=True))
    assert limiter.full_until == START + timedelta(seconds=2)  # the full seconds are not asked again


async def test_senders_held_up_as_a_second_begins_keep_the_slots_they_booked_before_it():
    time = SimulatedTime(START + timedelta(seconds=0.8))  # in the guard: slots of the next second are booked
    busy = (START + timedelta(seconds=1), START + timedelta(seconds=1.1))  # the loop, as that second begins

    async def sleep(seconds: float) -> None:
        wake = time.now + timedelta(seconds=seconds)
        await time.sleep(((busy[1] if busy[0] <= wake < busy[1] else wake) - time.now).total_seconds())

    limiter = LocalSendLimiter(RATE, time.clock, sleep)

    async def send(after: float) -> datetime:
        await sleep(after)
        return await limiter.acquire()

    granted = await time.run(*(send(0) for _ in range(5)), *(send(0.3) for _ in range(30)))

    assert Counter(granted)[busy[0]] == RATE  # the 5 booked slots and 25 more: none skipped


def test_the_dispatcher_sends_a_quarter_of_the_send_rate_at_once_between_16_and_128():
    assert [senders_for(rate) for rate in (1, 30, 64, 80, 400, 100_000)] == [16, 16, 16, 20, 100, 128]
