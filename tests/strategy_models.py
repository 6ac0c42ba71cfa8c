"""Classic models for the strategy tests and benchmarks, written as plain trio scenarios.

Every shared access is its own step (a checkpoint follows it), as in the papers' models where
every shared access is an event, so the counts of Mazurkiewicz traces are the literature's.
"""

from __future__ import annotations

import trio

import sim


@sim.tracked
class Cells:
    """``size`` tracked integers ``c0 .. c{size-1}``."""

    def __init__(self, size: int) -> None:
        for index in range(size):
            setattr(self, f"c{index}", 0)

    def get(self, index: int) -> int:
        value: int = getattr(self, f"c{index}")
        return value

    def put(self, index: int, value: int) -> None:
        setattr(self, f"c{index}", value)


def _named(scenario, name: str):
    scenario.__racesim_fingerprint__ = name
    scenario.__racesim_name__ = name
    return scenario


def disjoint(n: int):
    """N tasks, each writing its own cell twice: every interleaving is equivalent (1 trace)."""

    async def scenario() -> None:
        cells = Cells(n)

        async def writer(index: int) -> None:
            cells.put(index, 1)
            await trio.sleep(0)
            cells.put(index, 2)

        async with trio.open_nursery() as nursery:
            for index in range(n):
                nursery.start_soon(writer, index)

    return _named(scenario, f"disjoint-{n}")


def counter(n: int, *, atomic: bool = False):
    """N tasks incrementing one counter: read, checkpoint, write — (N!)^2 traces (each write order,
    and where each read falls among the other tasks' writes); with ``atomic`` the read and the
    write are one step: N! traces. Fails (lost update) unless atomic."""

    async def scenario() -> None:
        cells = Cells(1)

        async def increment() -> None:
            seen = cells.get(0)
            if not atomic:
                await trio.sleep(0)
            cells.put(0, seen + 1)

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(increment)
        assert cells.get(0) == n, f"lost update: counter is {cells.get(0)}, expected {n}"

    return _named(scenario, f"counter-{n}{'-atomic' if atomic else ''}")


def lastzero(n: int):
    """Abdulla et al. 2014: thread 0 scans ``array[n], array[n-1], ...`` for a zero while thread
    ``j`` sets ``array[j] = array[j-1] + 1``."""

    async def scenario() -> None:
        array = Cells(n + 1)

        async def scan() -> None:
            index = n
            while array.get(index) != 0:
                index -= 1
                await trio.sleep(0)

        async def chain(j: int) -> None:
            before = array.get(j - 1)
            await trio.sleep(0)
            array.put(j, before + 1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(scan)
            for j in range(1, n + 1):
                nursery.start_soon(chain, j)

    return _named(scenario, f"lastzero-{n}")


def indexer(threads: int, messages: int = 2, size: int = 4):
    """Flanagan and Godefroid 2005, shrunk: each thread inserts ``messages`` values into an
    open-addressing hash table of ``size`` cells with compare-and-swap; collisions make the
    threads' probes dependent. (The original, 128 cells and 4 messages, collides from 12 threads.)"""

    async def scenario() -> None:
        table = Cells(size)

        async def insert(thread: int) -> None:
            for message in range(messages):
                value = message * 11 + thread + 1
                slot = (value * 7) % size
                while table.get(slot) != 0:  # the compare of the compare-and-swap ...
                    slot = (slot + 1) % size
                    await trio.sleep(0)
                table.put(slot, value)  # ... and its swap, in the same step
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for thread in range(threads):
                nursery.start_soon(insert, thread)

    return _named(scenario, f"indexer-{threads}x{messages}-{size}")


def probe(steps: int, at: int):
    """A depth-2 ordering bug: ``long`` writes 1, 2, ... ``steps`` (a checkpoint after each) and
    ``probe`` fails if it reads exactly ``at`` — ``long`` must be preempted at exactly one point."""

    async def scenario() -> None:
        cells = Cells(1)

        async def long() -> None:
            for value in range(1, steps + 1):
                cells.put(0, value)
                await trio.sleep(0)

        async def check() -> None:
            assert cells.get(0) != at, f"probe read the value {at}"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long)
            nursery.start_soon(check)

    return _named(scenario, f"probe-{steps}-{at}")
