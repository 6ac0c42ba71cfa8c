"""Classic concurrency programs as plain-trio scenarios, for the DPOR and time-to-bug benchmarks.

Two sets, each a function returning a fresh ``async def scenario() -> None``:

**DPOR families** (Flanagan & Godefroid, POPL 2005; Abdulla et al., POPL 2014), sized by N. Shared
memory is ``@sim.tracked`` objects, one object per memory cell so that footprints are per cell. Every
shared object is created (written) in the root task's first step, before any task is spawned, so its
footprint key (``Cell#3``) names the same cell in every execution. A thread's atomic action is the
code between two checkpoints (``await trio.sleep(0)``), the unit of interleaving:

- ``disjoint_writers(N)``: N tasks, each writes its own cell twice. One Mazurkiewicz trace.
- ``shared_counter(N)``: N tasks, each increments one cell atomically (read + write in one step).
  N! traces.
- ``lastzero(N)``: cells a[0..N]; task 0 scans ``for i = N; a[i] != 0; i--`` one read per step;
  task j (1..N) reads a[j-1] then, in its next step, writes ``a[j] = a[j-1] + 1``.
- ``indexer(N)``: N tasks insert 4 messages each into a 128-cell hash table with compare-and-swap
  (one CAS per step); ``w = 11 * m + tid``, ``h = 7 * w % 128``, linear probing. Cells collide only
  for N >= 12, when there are 2**(3 * (N - 11)) traces (8, 64, 512 for N = 12, 13, 14).
- ``filesystem(N)``: N tasks allocate a block for inode ``tid % 32`` under ``trio.Lock`` per inode and
  per block (26 blocks); conflicts only for N >= 14.

Past the sizes where conflicts start, brute force is out of reach, so indexer and filesystem also
come shrunk (a 6-cell table with 2 messages per task; 4 blocks), where tasks collide from N = 2.

**Classic bugs** (each fails with an assertion, an exception or a deadlock when the bug shows):
lost update, check-then-act initialisation, order violation, ABBA deadlock, lost wake-up, atomicity
violation across two awaits. Each is written as real code would be, with one side doing a little
other work first (a request parse, a log write), and a ``gap`` saying where the racing steps fall
in trio's own lock-step batches: 0 — in the same batch, where trio's batch order decides; 1 — one
batch apart, where only holding a task back (I/O latency; racesim's ``free`` mode) makes them meet,
as in the reported races of the system under test. ``lost_update_aligned`` is the control that
trio's lock-step order hits on every run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

import sim

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Scenario = Callable[[], Awaitable[None]]


@sim.tracked
class Cell:
    def __init__(self, value: object = 0) -> None:
        self.value = value


def _named(fn: Scenario, name: str) -> Scenario:
    fn.__racesim_fingerprint__ = name  # type: ignore[attr-defined]
    fn.__racesim_name__ = name  # type: ignore[attr-defined]
    return fn


async def _run_all(*workers: Callable[[], Awaitable[None]]) -> None:
    async with trio.open_nursery() as nursery:
        for worker in workers:
            nursery.start_soon(worker)


# -- DPOR families ------------------------------------------------------------------------------


def disjoint_writers(n: int) -> Scenario:
    async def scenario() -> None:
        cells = [Cell() for _ in range(n)]

        def writer(cell: Cell) -> Callable[[], Awaitable[None]]:
            async def write() -> None:
                await trio.sleep(0)
                cell.value = 1
                await trio.sleep(0)
                cell.value = 2

            return write

        await _run_all(*(writer(cell) for cell in cells))

    return _named(scenario, f"disjoint_writers-{n}")


def shared_counter(n: int) -> Scenario:
    async def scenario() -> None:
        counter = Cell()

        async def increment() -> None:
            await trio.sleep(0)
            counter.value = counter.value + 1

        await _run_all(*([increment] * n))
        assert counter.value == n

    return _named(scenario, f"shared_counter-{n}")


def lastzero(n: int) -> Scenario:
    async def scenario() -> None:
        array = [Cell() for _ in range(n + 1)]

        async def scan() -> None:
            i = n
            while True:
                await trio.sleep(0)
                if array[i].value == 0:
                    return
                i -= 1

        def bump(j: int) -> Callable[[], Awaitable[None]]:
            async def write() -> None:
                await trio.sleep(0)
                seen = array[j - 1].value
                await trio.sleep(0)
                array[j].value = seen + 1

            return write

        await _run_all(scan, *(bump(j) for j in range(1, n + 1)))

    return _named(scenario, f"lastzero-{n}")


INDEXER_SIZE = 128
INDEXER_MESSAGES = 4


def indexer(n: int, size: int = INDEXER_SIZE, messages: int = INDEXER_MESSAGES) -> Scenario:
    async def scenario() -> None:
        table = [Cell() for _ in range(size)]

        def thread(tid: int) -> Callable[[], Awaitable[None]]:
            async def insert() -> None:
                for m in range(1, messages + 1):
                    w = m * 11 + tid
                    h = (w * 7) % size
                    while True:
                        await trio.sleep(0)
                        if table[h].value == 0:  # compare-and-swap: one atomic step
                            table[h].value = w
                            break
                        h = (h + 1) % size

            return insert

        await _run_all(*(thread(tid) for tid in range(n)))

    return _named(scenario, f"indexer-{n}-{size}x{messages}")


def indexer_locked(n: int, size: int = INDEXER_SIZE, messages: int = INDEXER_MESSAGES) -> Scenario:
    """The indexer with a ``trio.Lock`` per slot instead of an atomic compare-and-swap step: the
    same traces (two orders per colliding pair), now as orders of lock acquisitions."""

    async def scenario() -> None:
        table = [Cell() for _ in range(size)]
        locks = [trio.Lock() for _ in range(size)]

        def thread(tid: int) -> Callable[[], Awaitable[None]]:
            async def insert() -> None:
                for m in range(1, messages + 1):
                    w = m * 11 + tid
                    h = (w * 7) % size
                    while True:
                        async with locks[h]:
                            if table[h].value == 0:
                                table[h].value = w
                                break
                        h = (h + 1) % size

            return insert

        await _run_all(*(thread(tid) for tid in range(n)))

    return _named(scenario, f"indexer-locked-{n}-{size}x{messages}")


def indexer_traces(n: int) -> int:
    """Mazurkiewicz traces of ``indexer(n)`` on data (two orders per colliding message pair)."""
    return 2 ** (3 * max(0, n - 11))


FS_INODES = 32
FS_BLOCKS = 26


def filesystem(n: int, blocks: int = FS_BLOCKS) -> Scenario:
    async def scenario() -> None:
        inode_locks = [trio.Lock() for _ in range(FS_INODES)]
        block_locks = [trio.Lock() for _ in range(blocks)]
        for lock in (*inode_locks, *block_locks):
            lock.locked()  # first touch in the root step: stable footprint keys in every run
        inodes = [Cell() for _ in range(FS_INODES)]
        busy = [Cell(False) for _ in range(blocks)]

        def thread(tid: int) -> Callable[[], Awaitable[None]]:
            async def allocate() -> None:
                i = tid % FS_INODES
                async with inode_locks[i]:
                    if inodes[i].value == 0:
                        b = (i * 2) % blocks
                        while True:
                            async with block_locks[b]:
                                if not busy[b].value:
                                    busy[b].value = True
                                    inodes[i].value = b + 1
                                    break
                            b = (b + 1) % blocks

            return allocate

        await _run_all(*(thread(tid) for tid in range(n)))

    return _named(scenario, f"filesystem-{n}-{blocks}")


FAMILIES: dict[str, Callable[[int], Scenario]] = {
    "disjoint_writers": disjoint_writers,
    "shared_counter": shared_counter,
    "lastzero": lastzero,
    "indexer": indexer,
    "filesystem": filesystem,
    # Shrunk so that cells collide at sizes the brute force can still enumerate.
    "indexer (6 cells, 2 msgs)": lambda n: indexer(n, size=6, messages=2),
    "filesystem (4 blocks)": lambda n: filesystem(n, blocks=4),
    "indexer (locked)": indexer_locked,
    "indexer (locked, 6 cells, 2 msgs)": lambda n: indexer_locked(n, size=6, messages=2),
}


# -- classic bugs -------------------------------------------------------------------------------
#
# ``gap`` places the racing steps relative to trio's own lock-step batches (every runnable task
# steps once per batch): gap 0 puts them in the same batch, so trio's batch order decides (it
# reverses a batch half of the time); gap 1 puts them one batch apart, so only holding a task back
# (racesim's ``free`` mode, or real I/O latency) can make them meet.


async def _work(k: int) -> None:
    """``k`` checkpoints of unrelated work (parsing, logging, a cache hit)."""
    for _ in range(k):
        await trio.sleep(0)


def lost_update(gap: int = 1) -> Scenario:
    """Two read-modify-write increments across an await; the second request starts later."""

    async def scenario() -> None:
        counter = Cell()

        def increment(delay: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                await _work(delay)
                seen = counter.value
                await trio.sleep(0)  # e.g. an await on the database
                counter.value = seen + 1

            return run

        await _run_all(increment(0), increment(1 + gap))
        assert counter.value == 2, f"lost update: counter is {counter.value}, expected 2"

    return _named(scenario, f"lost_update-gap{gap}")


def lost_update_aligned() -> Scenario:
    """The control: both increments start together, and trio's lock-step order loses one always."""

    async def scenario() -> None:
        counter = Cell()

        async def increment() -> None:
            seen = counter.value
            await trio.sleep(0)
            counter.value = seen + 1

        await _run_all(increment, increment)
        assert counter.value == 2, f"lost update: counter is {counter.value}, expected 2"

    return _named(scenario, "lost_update_aligned")


def check_then_act(gap: int = 1) -> Scenario:
    """Lazy initialisation: both callers see no connection and both open one."""

    async def scenario() -> None:
        pool = Cell(None)
        opened = Cell(0)

        def user(delay: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                await _work(delay)
                if pool.value is None:
                    await trio.sleep(0)  # connecting
                    opened.value = opened.value + 1
                    pool.value = f"connection {opened.value}"

            return run

        await _run_all(user(0), user(1 + gap))
        assert opened.value == 1, f"check-then-act: {opened.value} connections opened, expected 1"

    return _named(scenario, f"check_then_act-gap{gap}")


def order_violation(gap: int = 1) -> Scenario:
    """The consumer assumes the producer's setup is done once it has awaited a little itself."""

    async def scenario() -> None:
        config = Cell(None)

        async def setup() -> None:
            await _work(1)  # reading the config file
            config.value = {"timeout": 5}

        async def consumer() -> None:
            await _work(1 + gap)
            assert config.value is not None, "order violation: config used before it was set"

        await _run_all(setup, consumer)

    return _named(scenario, f"order_violation-gap{gap}")


def abba_deadlock(gap: int = 1) -> Scenario:
    """Two code paths take two locks in opposite orders; one path starts later."""

    async def scenario() -> None:
        first, second = trio.Lock(), trio.Lock()

        async def left() -> None:
            async with first:
                await trio.sleep(0)
                async with second:
                    await trio.sleep(0)

        async def right() -> None:
            await _work(2 + gap)
            async with second:
                await trio.sleep(0)
                async with first:
                    await trio.sleep(0)

        await _run_all(left, right)

    return _named(scenario, f"abba_deadlock-gap{gap}")


def lost_wakeup(gap: int = 1) -> Scenario:
    """The consumer checks for items, then (after an await) parks on an Event; a producer that
    publishes in between sees no waiter to wake, and the consumer sleeps forever."""

    async def scenario() -> None:
        box = Cell(None)
        items = Cell(0)

        async def consumer() -> None:
            if items.value == 0:
                await trio.sleep(0)  # e.g. logging "waiting for work"
                event = trio.Event()
                box.value = event
                await event.wait()

        async def producer() -> None:
            await _work(1 + gap)
            items.value = items.value + 1
            waiter = box.value
            if waiter is not None:
                waiter.set()

        await _run_all(consumer, producer)

    return _named(scenario, f"lost_wakeup-gap{gap}")


def atomicity_violation(gap: int = 1) -> Scenario:
    """A transfer withdraws, awaits twice (log, audit), then deposits; an auditor checking the
    total later can still see the money in flight."""

    async def scenario() -> None:
        a, b = Cell(100), Cell(0)

        async def transfer() -> None:
            a.value = a.value - 10
            await trio.sleep(0)  # write-ahead log
            await trio.sleep(0)  # audit event
            b.value = b.value + 10

        async def auditor() -> None:
            await _work(2 + gap)
            total = a.value + b.value
            assert total == 100, f"atomicity violation: total is {total}, expected 100"

        await _run_all(transfer, auditor)

    return _named(scenario, f"atomicity_violation-gap{gap}")


#: name -> factory(gap)
BUGS: dict[str, Callable[[int], Scenario]] = {
    "lost update": lost_update,
    "check-then-act init": check_then_act,
    "order violation": order_violation,
    "ABBA deadlock": abba_deadlock,
    "lost wake-up": lost_wakeup,
    "atomicity violation (2 awaits)": atomicity_violation,
}
