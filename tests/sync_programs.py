"""Small generated trio programs over every sync primitive, for checking dpor against dfs.

A program is a few tasks, each a short list of operations on shared tracked cells, a Lock, a
Semaphore, a Condition, an Event, a memory channel, a CancelScope and timers. Programs are drawn
from a seeded ``random.Random`` (same seed, same program in any process). Running one records the
final state: every cell, what each task observed (values, times, whether a wait timed out), and the
failure kind (deadlock, exception, assertion), so two strategies can be compared by the sets of
(final state, failure kind) they reach.
"""

from __future__ import annotations

import random

import attrs
import trio

import sim
from sim._run import run_once

OPS = (
    "read",
    "write",
    "add",
    "lock",
    "sem",
    "cond_wait",
    "cond_notify",
    "set",
    "wait",
    "timed_wait",
    "send",
    "receive",
    "cancel",
    "scoped_sleep",
    "sleep",
    "now",
    "locked",
    "fail_if",
)


@sim.tracked
class Cells:
    def __init__(self) -> None:
        self.c0 = 0
        self.c1 = 0
        self.flag = False
        self.scopes: tuple[trio.CancelScope, ...] = ()


@attrs.frozen
class Program:
    tasks: tuple[tuple[tuple[str, int, bool], ...], ...]  #: per task: (op, argument, checkpoint)
    semaphore: int  #: initial value of the Semaphore
    buffer: int  #: the memory channel's buffer size

    def scenario(self, finals: list[object]):
        async def scenario() -> None:
            cells = Cells()
            lock, event = trio.Lock(), trio.Event()
            semaphore = trio.Semaphore(self.semaphore)
            condition = trio.Condition()
            send, receive = trio.open_memory_channel[int](self.buffer)
            logs: list[list[object]] = [[] for _ in self.tasks]

            async def task(number: int) -> None:
                log = logs[number]
                for op, argument, checkpoint in self.tasks[number]:
                    name = f"c{argument % 2}"
                    if op == "read":
                        log.append(getattr(cells, name))
                    elif op == "write":
                        setattr(cells, name, argument + 1)
                    elif op == "add":
                        seen = getattr(cells, name)
                        await trio.sleep(0)
                        setattr(cells, name, seen + 1)
                    elif op in ("lock", "sem"):
                        async with lock if op == "lock" else semaphore:
                            seen = getattr(cells, name)
                            await trio.sleep(0)
                            setattr(cells, name, seen + 1)
                    elif op == "cond_wait":
                        async with condition:
                            if not cells.flag:
                                with trio.move_on_after(argument + 1) as scope:
                                    await condition.wait()
                                log.append(("cond", scope.cancelled_caught))
                    elif op == "cond_notify":
                        async with condition:
                            cells.flag = True
                            condition.notify_all()
                    elif op == "set":
                        event.set()
                    elif op == "wait":
                        await event.wait()
                    elif op == "timed_wait":
                        with trio.move_on_after(argument + 1) as scope:
                            await event.wait()
                        log.append(("timed", scope.cancelled_caught))
                    elif op == "send":
                        with trio.move_on_after(3):
                            await send.send(number * 10 + argument)
                    elif op == "receive":
                        with trio.move_on_after(3):
                            log.append(await receive.receive())
                    elif op == "cancel":
                        for scope in cells.scopes:
                            scope.cancel()
                    elif op == "scoped_sleep":
                        with trio.CancelScope() as scope:
                            cells.scopes = (*cells.scopes, scope)
                            await trio.sleep(argument + 1)
                        log.append(("scoped", scope.cancelled_caught, trio.current_time()))
                    elif op == "sleep":
                        await trio.sleep(argument)
                        log.append(("slept", trio.current_time()))
                    elif op == "now":
                        log.append(("now", trio.current_time()))
                    elif op == "locked":
                        log.append(("locked", lock.locked()))
                    elif op == "fail_if" and cells.c0 == argument:
                        raise ValueError("cell is set")
                    if checkpoint:
                        await trio.sleep(0)

            async with trio.open_nursery() as nursery:
                for number in range(len(self.tasks)):
                    nursery.start_soon(task, number, name=f"t{number}")
            finals.append((cells.c0, cells.c1, tuple(map(tuple, logs))))

        scenario.__racesim_fingerprint__ = "sync-program"  # type: ignore[attr-defined]
        return scenario


def program(seed: int, *, tasks: int = 3, ops: int = 4) -> Program:
    """The program of ``seed``: 2..``tasks`` tasks, 1..``ops`` operations in all."""
    rng = random.Random(seed)
    count = rng.randint(2, tasks)
    sizes = [1] * count
    for _ in range(rng.randint(0, max(0, ops - count))):
        sizes[rng.randrange(count)] += 1
    body = tuple(
        tuple((rng.choice(OPS), rng.randint(0, 2), rng.random() < 0.3) for _ in range(size))
        for size in sizes
    )
    return Program(body, rng.randint(1, 2), rng.randint(0, 1))


def outcomes(
    program: Program, strategy, *, limit: int, explore_time: bool = False
) -> tuple[set[object], int, bool]:
    """The (final state, failure kind) pairs ``strategy`` reaches, the runs, and exhaustion."""
    finals: list[object] = []
    scenario = program.scenario(finals)
    seen: set[object] = set()
    runs = 0
    while runs < limit and strategy.new_execution():
        finals.clear()
        outcome = run_once(scenario, strategy, explore_time=explore_time)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        runs += 1
        if outcome.kind in ("exception", "assertion") and "cell is set" not in outcome.message:
            raise AssertionError(f"the program itself broke: {outcome.message}")
        seen.add((finals[0] if finals else None, outcome.kind))
    return seen, runs, bool(getattr(strategy, "exhausted", False))
