"""Footprints of trio's objects: every observing or reconfiguring operation is seen by DPOR.

Each program below has two (or three) model tasks whose only interaction is one trio operation
that observes or changes a primitive's state — the gaps issue 11 listed (``CancelScope.deadline``,
``Semaphore.value``, ``CapacityLimiter.available_tokens``, ``MemoryReceiveChannel.statistics()``,
``clone()`` racing ``close()``, ``len(ParkingLot)``) and the rest of trio 0.35's public surface.
User state is plain locals, so nothing but the trio footprints can make the steps dependent. The
reference is dfs, which runs every interleaving: dpor must reach exactly its set of outcomes
(what the tasks saw, and how the run ended), and that set has at least two members, so a missing
footprint (dpor stopping after one schedule) fails the test.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
import trio

from sim._run import run_once
from sim.strategies import DfsStrategy, DporStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Task = Callable[[], Awaitable[None]]
    Program = Callable[[list[object]], tuple[Task, ...]]


def outcomes(program: Program, strategy: DfsStrategy | DporStrategy) -> set[object]:
    """Every (what the tasks saw, failure kind) ``strategy`` reaches, run to exhaustion. The
    program makes its trio objects afresh in every run."""
    seen: list[object] = []

    async def scenario() -> None:
        tasks = program(seen)
        if len(tasks) == 1:
            await tasks[0]()
            return
        async with trio.open_nursery() as nursery:
            for number, task in enumerate(tasks):
                nursery.start_soon(task, name=f"t{number}")

    reached: set[object] = set()
    runs = 0
    while strategy.new_execution():
        seen.clear()
        outcome = run_once(scenario, strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        reached.add((tuple(sorted(map(repr, seen))), outcome.kind))
        runs += 1
        assert runs < 500, "the program is too big for an exhaustive reference"
    return reached


def two(first: Task, second: Task) -> tuple[Task, ...]:
    return (first, second)


# -- the gaps issue 11 listed ----------------------------------------------------------------------


def deadline_setter(seen: list[object]):
    scope = trio.CancelScope()

    async def writer() -> None:
        scope.deadline = 5

    async def reader() -> None:
        seen.append(("deadline", scope.deadline))

    return two(writer, reader)


def deadline_cancels(seen: list[object]):
    """Setting a past deadline cancels the scope another task sits in (or comes too late)."""
    scope = trio.CancelScope()

    async def inside() -> None:
        with scope:
            await trio.lowlevel.checkpoint()
            await trio.lowlevel.checkpoint()
        seen.append(("caught", scope.cancelled_caught))

    async def canceller() -> None:
        scope.deadline = -math.inf

    return two(inside, canceller)


def semaphore_value(seen: list[object]):
    semaphore = trio.Semaphore(1)

    async def taker() -> None:
        semaphore.acquire_nowait()

    async def reader() -> None:
        seen.append(("value", semaphore.value))

    return two(taker, reader)


def limiter_available_tokens(seen: list[object]):
    limiter = trio.CapacityLimiter(1)

    async def borrower() -> None:
        limiter.acquire_nowait()
        await trio.lowlevel.checkpoint()
        limiter.release()

    async def reader() -> None:
        seen.append(("available", limiter.available_tokens))

    return two(borrower, reader)


def receive_channel_statistics(seen: list[object]):
    send, receive = trio.open_memory_channel[int](1)

    async def sender() -> None:
        send.send_nowait(1)

    async def reader() -> None:
        seen.append(("buffered", receive.statistics().current_buffer_used))

    return two(sender, reader)


def clone_races_close(seen: list[object]):
    send, _receive = trio.open_memory_channel[int](1)

    async def closer() -> None:
        send.close()

    async def cloner() -> None:
        try:
            clone = send.clone()
        except trio.ClosedResourceError:
            seen.append("closed before the clone")
        else:
            clone.close()
            seen.append("cloned")

    return two(closer, cloner)


def parking_lot_len(seen: list[object]):
    lot = trio.lowlevel.ParkingLot()

    async def parker() -> None:
        await lot.park()

    async def counter() -> None:
        seen.append(("parked", len(lot)))
        await trio.lowlevel.checkpoint()
        lot.unpark_all()

    return two(parker, counter)


# -- the rest of trio's public surface -----------------------------------------------------------


def scope_shield(seen: list[object]):
    scope = trio.CancelScope()

    async def writer() -> None:
        scope.shield = True

    async def reader() -> None:
        seen.append(("shield", scope.shield))

    return two(writer, reader)


def scope_relative_deadline(seen: list[object]):
    scope = trio.CancelScope()

    async def writer() -> None:
        scope.relative_deadline = 3

    async def reader() -> None:
        seen.append(("relative", scope.is_relative))

    return two(writer, reader)


def scope_entered(seen: list[object]):
    """``is_relative`` turns None when the owner enters the scope."""
    scope = trio.CancelScope(relative_deadline=3)

    async def owner() -> None:
        with scope:
            await trio.lowlevel.checkpoint()

    async def reader() -> None:
        seen.append(("relative", scope.is_relative))

    return two(owner, reader)


def scope_cancelled_caught(seen: list[object]):
    scope = trio.CancelScope()
    scope.cancel()  # before either task starts: the owner's exit is what the reader races

    async def owner() -> None:
        with scope:
            await trio.lowlevel.checkpoint()

    async def reader() -> None:
        seen.append(("caught", scope.cancelled_caught))

    return two(owner, reader)


def scope_cancel_called(seen: list[object]):
    scope = trio.CancelScope()

    async def canceller() -> None:
        scope.cancel()

    async def reader() -> None:
        seen.append(("called", scope.cancel_called))

    return two(canceller, reader)


def semaphore_statistics(seen: list[object]):
    semaphore = trio.Semaphore(0)

    async def waiter() -> None:
        await semaphore.acquire()

    async def reader() -> None:
        seen.append(("waiting", semaphore.statistics().tasks_waiting))
        await trio.lowlevel.checkpoint()
        semaphore.release()

    return two(waiter, reader)


def limiter_total_tokens(seen: list[object]):
    limiter = trio.CapacityLimiter(1)

    async def writer() -> None:
        limiter.total_tokens = 2

    async def reader() -> None:
        seen.append(("total", limiter.total_tokens))

    return two(writer, reader)


def limiter_borrowed_and_statistics(seen: list[object]):
    limiter = trio.CapacityLimiter(1)

    async def borrower() -> None:
        limiter.acquire_nowait()

    async def reader() -> None:
        seen.append(("borrowed", limiter.borrowed_tokens, limiter.statistics().borrowed_tokens))

    return two(borrower, reader)


def limiter_waiters(seen: list[object]):
    limiter = trio.CapacityLimiter(0)

    async def waiter() -> None:
        await limiter.acquire()
        limiter.release()

    async def reader() -> None:
        seen.append(("waiting", limiter.statistics().tasks_waiting))
        await trio.lowlevel.checkpoint()
        limiter.total_tokens = 1

    return two(waiter, reader)


def lock_statistics(seen: list[object]):
    lock = trio.Lock()

    async def holder() -> None:
        lock.acquire_nowait()
        await trio.lowlevel.checkpoint()
        lock.release()

    async def reader() -> None:
        seen.append(("locked", lock.statistics().locked))

    return two(holder, reader)


def event_statistics(seen: list[object]):
    event = trio.Event()

    async def waiter() -> None:
        await event.wait()

    async def reader() -> None:
        seen.append(("waiting", event.statistics().tasks_waiting))
        await trio.lowlevel.checkpoint()
        event.set()

    return two(waiter, reader)


def condition_statistics(seen: list[object]):
    condition = trio.Condition()

    async def waiter() -> None:
        async with condition:
            await condition.wait()

    async def notifier() -> None:
        async with condition:
            seen.append(("waiting", condition.statistics().tasks_waiting))
            await trio.lowlevel.checkpoint()
            condition.notify()

    return two(waiter, notifier)


def condition_locked(seen: list[object]):
    condition = trio.Condition()

    async def holder() -> None:
        async with condition:
            await trio.lowlevel.checkpoint()

    async def reader() -> None:
        seen.append(("locked", condition.locked()))

    return two(holder, reader)


def send_channel_statistics(seen: list[object]):
    send, receive = trio.open_memory_channel[int](0)

    async def closer() -> None:
        receive.close()

    async def reader() -> None:
        seen.append(("receivers", send.statistics().open_receive_channels))

    return two(closer, reader)


def receive_clone_keeps_channel_open(seen: list[object]):
    """A receive clone made before the original closes keeps senders from BrokenResourceError."""
    send, receive = trio.open_memory_channel[int](1)
    clones: list[object] = []

    async def cloner() -> None:
        try:
            clones.append(receive.clone())
        except trio.ClosedResourceError:
            seen.append("closed before the clone")

    async def closer() -> None:
        receive.close()
        try:
            send.send_nowait(1)
            seen.append("sent")
        except trio.BrokenResourceError:
            seen.append("broken")

    return two(cloner, closer)


def parking_lot_statistics_and_bool(seen: list[object]):
    lot = trio.lowlevel.ParkingLot()

    async def parker() -> None:
        await lot.park()

    async def reader() -> None:
        seen.append(("lot", bool(lot), lot.statistics().tasks_waiting))
        await trio.lowlevel.checkpoint()
        lot.unpark_all()

    return two(parker, reader)


def parking_lot_repark(seen: list[object]):
    """``repark`` changes the lot it moves tasks to."""
    first, second = trio.lowlevel.ParkingLot(), trio.lowlevel.ParkingLot()

    async def parker() -> None:
        await first.park()

    async def mover() -> None:
        first.repark(second)

    async def counter() -> None:
        seen.append(("second", len(second)))
        await trio.lowlevel.checkpoint()
        first.unpark_all()
        second.unpark_all()

    return (parker, mover, counter)


def parking_lot_break(seen: list[object]):
    lot = trio.lowlevel.ParkingLot()

    async def breaker() -> None:
        lot.break_lot()

    async def parker() -> None:
        try:
            await lot.park()
        except trio.BrokenResourceError as exc:
            seen.append("broken before parking" if "Attempted" in str(exc) else "broken parked")

    return two(breaker, parker)


ISSUE_GAPS = [
    deadline_setter,
    deadline_cancels,
    semaphore_value,
    limiter_available_tokens,
    receive_channel_statistics,
    clone_races_close,
    parking_lot_len,
]

SURFACE = [
    scope_shield,
    scope_relative_deadline,
    scope_entered,
    scope_cancelled_caught,
    scope_cancel_called,
    semaphore_statistics,
    limiter_total_tokens,
    limiter_borrowed_and_statistics,
    limiter_waiters,
    lock_statistics,
    event_statistics,
    condition_statistics,
    condition_locked,
    send_channel_statistics,
    receive_clone_keeps_channel_open,
    parking_lot_statistics_and_bool,
    parking_lot_repark,
    parking_lot_break,
]


@pytest.mark.parametrize("program", ISSUE_GAPS, ids=lambda p: p.__name__)
def test_dpor_reaches_every_outcome_of_the_listed_trio_gaps(program: Program) -> None:
    expected = outcomes(program, DfsStrategy())
    assert len(expected) >= 2, expected
    assert outcomes(program, DporStrategy()) == expected


@pytest.mark.parametrize("program", SURFACE, ids=lambda p: p.__name__)
def test_dpor_reaches_every_outcome_of_trio_observers_and_setters(program: Program) -> None:
    expected = outcomes(program, DfsStrategy())
    assert len(expected) >= 2, expected
    assert outcomes(program, DporStrategy()) == expected


def test_observers_outside_a_run_behave_as_trio() -> None:
    scope = trio.CancelScope(relative_deadline=2)
    assert scope.is_relative is True and scope.relative_deadline == 2
    scope.shield = True
    scope.cancel()
    assert scope.shield and not scope.cancelled_caught and scope.cancel_called
    semaphore = trio.Semaphore(2, max_value=3)
    assert (semaphore.value, semaphore.max_value) == (2, 3)
    limiter = trio.CapacityLimiter(2)
    limiter.total_tokens = 3
    assert (limiter.total_tokens, limiter.available_tokens, limiter.borrowed_tokens) == (3, 3, 0)
    with pytest.raises(TypeError, match="total_tokens must be an int"):
        limiter.total_tokens = 1.5
    lot = trio.lowlevel.ParkingLot()
    assert len(lot) == 0 and not lot and lot.statistics().tasks_waiting == 0


async def test_cancelled_caught_keeps_its_meaning_in_plain_trio() -> None:
    with trio.move_on_after(1) as scope:
        await trio.sleep(2)
    assert scope.cancelled_caught and scope.cancel_called
    with trio.CancelScope() as untouched:
        await trio.lowlevel.checkpoint()
    assert not untouched.cancelled_caught
