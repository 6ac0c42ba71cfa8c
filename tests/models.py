"""Small plain-trio scenarios shared by the kernel tests (importable from a fresh process)."""

from __future__ import annotations

import trio

import sim


@sim.tracked
class Counter:
    def __init__(self) -> None:
        self.value = 0


def workers(tasks: int, checkpoints: int):
    """``tasks`` tasks, each passing ``checkpoints`` checkpoints (so ``checkpoints + 1`` steps)."""

    async def scenario() -> None:
        async def worker() -> None:
            for _ in range(checkpoints):
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)

    scenario.__racesim_fingerprint__ = f"workers-{tasks}x{checkpoints}"  # type: ignore[attr-defined]
    return scenario


async def lost_update() -> None:
    counter = Counter()

    async def increment() -> None:
        seen = counter.value
        await trio.sleep(0)
        counter.value = seen + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert counter.value == 2, f"lost update: counter is {counter.value}, expected 2"


async def locked_update() -> None:
    counter = Counter()
    lock = trio.Lock()

    async def increment() -> None:
        async with lock:
            seen = counter.value
            await trio.sleep(0)
            counter.value = seen + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert counter.value == 2, f"lost update: counter is {counter.value}, expected 2"


async def abba() -> None:
    first, second = trio.Lock(), trio.Lock()

    async def left() -> None:
        async with first:
            await trio.sleep(0)
            async with second:
                pass

    async def right() -> None:
        async with second:
            await trio.sleep(0)
            async with first:
                pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(left)
        nursery.start_soon(right)


async def spinner() -> None:
    async def spin() -> None:
        while True:
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(spin)


async def sleeper() -> None:
    start = trio.current_time()
    await trio.sleep(5)
    assert trio.current_time() - start == 5


async def three_increments() -> None:
    counter = Counter()

    async def increment() -> None:
        seen = counter.value
        await trio.sleep(0)
        counter.value = seen + 1

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(increment)
    sim.note("final", value=counter.value)
