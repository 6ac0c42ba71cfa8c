"""DPOR is optimal on the classic benchmarks: exactly one execution per Mazurkiewicz trace.

The number of traces is derived independently of ``sim.strategies.dpor``: ``dfs`` runs every
interleaving, and executions are grouped by the order of their dependent step pairs (two steps of
different tasks are dependent when an access of one conflicts with an access of the other; the
exits of sibling tasks from their nursery commute). Where brute force is out of reach the closed
forms stand in: 1 for disjoint writers, (N!)^2 for the read-checkpoint-write counter, N! when the
increment is atomic.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import trio

from sim._run import run_once
from sim.strategies import DfsStrategy, DporStrategy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategy_models import counter, disjoint, indexer, lastzero


def _child_exit(step, access) -> bool:
    return (
        access.kind == "release"
        and step.location == "exit"
        and not step.spawned
        and access.obj.startswith("Nursery#")
    )


def _dependent(first, second) -> bool:
    return any(
        a.conflicts_with(b) and not (_child_exit(first, a) and _child_exit(second, b))
        for a in first.accesses
        for b in second.accesses
    )


def mazurkiewicz_traces(scenario) -> int:
    """The number of equivalence classes among all interleavings (brute force)."""
    strategy = DfsStrategy()
    classes = set()
    while strategy.new_execution():
        outcome = run_once(scenario, strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        trace = outcome.trace
        steps = trace.steps
        event = [(trace.task_name(step.task), step.index) for step in steps]
        ordered = frozenset(
            (event[i], event[j])
            for j in range(len(steps))
            for i in range(j)
            if steps[i].task != steps[j].task and _dependent(steps[i], steps[j])
        )
        classes.add((frozenset(event), ordered))
    assert strategy.exhausted
    return len(classes)


def dpor_executions(scenario) -> tuple[int, int]:
    """Executions ``dpor`` runs to exhaust the scenario, and how many states were sleep-blocked."""
    strategy = DporStrategy()
    runs = 0
    while strategy.new_execution():
        outcome = run_once(scenario, strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        runs += 1
    return runs, strategy.sleep_blocked


BRUTE_FORCE = {
    "disjoint-2": disjoint(2),
    "disjoint-3": disjoint(3),
    "counter-2": counter(2),
    "counter-3": counter(3),
    "counter-3-atomic": counter(3, atomic=True),
    "lastzero-2": lastzero(2),
    "lastzero-3": lastzero(3),
    "indexer-2x2-4": indexer(2, 2, 4),
    "indexer-2x2-5": indexer(2, 2, 5),
    "indexer-2x3-6": indexer(2, 3, 6),
}


@pytest.mark.parametrize("name", sorted(BRUTE_FORCE))
def test_dpor_runs_one_execution_per_mazurkiewicz_trace(name: str) -> None:
    scenario = BRUTE_FORCE[name]
    traces = mazurkiewicz_traces(scenario)
    runs, blocked = dpor_executions(scenario)
    assert (runs, blocked) == (traces, 0)


def test_the_brute_force_count_distinguishes_the_traces_it_should() -> None:
    assert mazurkiewicz_traces(disjoint(3)) == 1
    assert mazurkiewicz_traces(counter(2)) == 4
    assert mazurkiewicz_traces(indexer(2, 2, 4)) > 1


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_disjoint_writers_take_exactly_one_execution(n: int) -> None:
    assert dpor_executions(disjoint(n)) == (1, 0)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_a_shared_counter_takes_one_execution_per_trace(n: int) -> None:
    assert dpor_executions(counter(n, atomic=True)) == (math.factorial(n), 0)
    assert dpor_executions(counter(n)) == (math.factorial(n) ** 2, 0)


# -- contention: a blocked acquire is not an event -------------------------------------------------

SYNC = ("Lock#", "StrictFIFOLock#", "Semaphore#", "CapacityLimiter#", "Condition#", "Event#")
SYNC += ("MemoryChannelState#",)


def sync_traces(scenario) -> int:
    """Distinct orders of the conflicting operations on sync objects over every ``dfs`` execution.

    An operation is one acquire / release recorded on a sync object (a task blocked in an acquire
    has done nothing yet: trio records its acquisition where it resumes); it is named by its task,
    object, direction (give or take) and how many such operations the task did before, so the name
    does not depend on which step it fell in. Two operations conflict unless both are Event waits.
    """
    strategy = DfsStrategy()
    classes = set()
    while strategy.new_execution():
        outcome = run_once(scenario, strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        trace = outcome.trace
        done: dict[tuple[str, str, str], int] = {}
        ops = []
        for step in trace.steps:
            name = trace.task_name(step.task)
            for access in step.accesses:
                if access.attr or not access.obj.startswith(SYNC):
                    continue
                mark = (name, access.obj, "give" if access.kind == "release" else "take")
                done[mark] = done.get(mark, 0) + 1
                ops.append((*mark, done[mark]))
        waits = {op for op in ops if op[1].startswith("Event#") and op[2] == "take"}
        classes.add(
            frozenset(
                (ops[i], ops[j])
                for j in range(len(ops))
                for i in range(j)
                if ops[i][0] != ops[j][0]
                and ops[i][1] == ops[j][1]
                and not (ops[i] in waits and ops[j] in waits)
            )
        )
    assert strategy.exhausted
    return len(classes)


def sections(tasks: int, pairs: int = 1, primitive=trio.Lock):
    """``pairs`` locks, each taken by ``tasks`` tasks for one section with a checkpoint inside."""

    async def scenario() -> None:
        locks = [primitive() for _ in range(pairs)]

        async def section(lock) -> None:
            async with lock:
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for lock in locks:
                for _ in range(tasks):
                    nursery.start_soon(section, lock)

    return scenario


async def event_wait_set() -> None:
    event = trio.Event()

    async def setter() -> None:
        await trio.sleep(0)
        event.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(event.wait)
        nursery.start_soon(setter)


async def semaphore_three() -> None:
    semaphore = trio.Semaphore(2)

    async def section() -> None:
        async with semaphore:
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(section)


async def condition_wait_notify() -> None:
    condition, ready = trio.Condition(), [False]

    async def waiter() -> None:
        async with condition:
            while not ready[0]:
                await condition.wait()

    async def notifier() -> None:
        async with condition:
            ready[0] = True
            condition.notify_all()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        nursery.start_soon(notifier)


def channel_two_senders(received: list[tuple[int, ...]]):
    async def scenario() -> None:
        send, receive = trio.open_memory_channel[int](0)
        values: list[int] = []

        async def receiver() -> None:
            for _ in range(2):
                values.append(await receive.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send.send, 1)
            nursery.start_soon(send.send, 2)
            nursery.start_soon(receiver)
        received.append(tuple(values))

    return scenario


CONTENDED = {
    "lock-2": (sections(2), 2),
    "lock-3": (sections(3), 6),
    "strict-fifo-lock-2": (sections(2, primitive=trio.StrictFIFOLock), 2),
    "capacity-limiter-1-3": (sections(3, primitive=lambda: trio.CapacityLimiter(1)), 6),
    "event-wait-set": (event_wait_set, 1),
    "semaphore-2-three-tasks": (semaphore_three, None),
    "condition-wait-notify": (condition_wait_notify, None),
}


@pytest.mark.parametrize("name", sorted(CONTENDED))
def test_contended_programs_take_one_execution_per_order_of_their_sync_operations(
    name: str,
) -> None:
    scenario, closed_form = CONTENDED[name]
    traces = sync_traces(scenario)
    if closed_form is not None:
        assert traces == closed_form
    assert dpor_executions(scenario) == (traces, 0)


@pytest.mark.parametrize("pairs", [1, 2, 3])
def test_disjoint_colliding_lock_pairs_take_two_to_the_k_executions(pairs: int) -> None:
    assert dpor_executions(sections(2, pairs)) == (2**pairs, 0)


def test_a_channel_with_two_senders_takes_one_execution_per_delivery_order() -> None:
    """A rendezvous is one transfer, whichever end arrives first: the traces are the orders in
    which the receiver gets the two values, counted here from every ``dfs`` execution."""
    received: list[tuple[int, ...]] = []
    strategy = DfsStrategy()
    while strategy.new_execution():
        outcome = run_once(channel_two_senders(received), strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
    assert set(received) == {(1, 2), (2, 1)}
    assert dpor_executions(channel_two_senders([])) == (2, 0)
