"""External waits: worker threads, calls back from threads, I/O readiness, wait_all_tasks_blocked.

Each scenario passes under plain ``trio.run``; under racesim none may be reported as a deadlock or
a timeout, the virtual clock must stand still while an external operation is pending, and every
schedule must replay to the same trace (the set of runnable tasks at a decision must never depend
on how fast a thread was).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

import sim
from sim._run import run_once
from sim.strategies import DfsStrategy
from sim.strategies.replay import ReplayStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sim._schedule import Schedule
    from sim._trace import Trace


async def two_threads() -> None:
    async def work(n: int) -> None:
        await trio.to_thread.run_sync(time.sleep, 0.001 * n)
        sim.note("done", n=n)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(work, 2)
        nursery.start_soon(work, 1)


async def thread_calls_back() -> None:
    event = trio.Event()

    def work() -> None:
        trio.from_thread.run_sync(event.set)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, work)
        await event.wait()


async def socket_written_by_a_thread() -> None:
    ours, theirs = socket.socketpair()
    reader = trio.socket.from_stdlib_socket(ours)
    writer = threading.Thread(target=lambda: (time.sleep(0.01), theirs.send(b"x")))
    writer.start()
    try:
        with trio.fail_after(5):
            assert await reader.recv(10) == b"x"
    finally:
        writer.join()
        theirs.close()
        reader.close()


async def same_loop_socket_then_event() -> None:
    left, right = trio.socket.socketpair()
    ready = trio.Event()

    async def wait_for_data() -> None:
        await trio.lowlevel.wait_readable(right)
        ready.set()

    with left, right:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_data)
            await left.send(b"x")
            with trio.fail_after(5):
                await ready.wait()


async def waits_for_all_tasks_blocked() -> None:
    seen: list[str] = []

    async def other() -> None:
        await trio.sleep(0)
        seen.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await trio.testing.wait_all_tasks_blocked()
        assert seen == ["other"]


async def system_task_outside_the_model() -> None:
    done = trio.Event()

    async def helper() -> None:  # spawned by trio's entry-queue task: not a model task
        await trio.to_thread.run_sync(time.sleep, 0.02)
        done.set()

    def spawn() -> None:
        trio.lowlevel.spawn_system_task(helper, name="helper")

    trio.lowlevel.current_trio_token().run_sync_soon(spawn)
    with trio.fail_after(1):
        await done.wait()


SCENARIOS = [
    two_threads,
    thread_calls_back,
    socket_written_by_a_thread,
    same_loop_socket_then_event,
    waits_for_all_tasks_blocked,
    system_task_outside_the_model,
]


def _explored(scenario: Callable[[], Awaitable[None]]) -> list[tuple[Schedule, Trace]]:
    runs: list[tuple[Schedule, Trace]] = []
    dfs = DfsStrategy()
    while dfs.new_execution() and len(runs) < 200:
        outcome = run_once(scenario, dfs)
        dfs.execution_finished(outcome.trace, outcome.schedule)
        assert outcome.kind is None, outcome.message
        runs.append((outcome.schedule, outcome.trace))
    return runs


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_external_waits_explore_without_false_failures_and_replay(
    scenario: Callable[[], Awaitable[None]],
) -> None:
    result = sim.explore(scenario, strategy="dfs", max_schedules=200)
    assert result.failures == []
    assert result.exhausted
    runs = _explored(scenario)
    assert len(runs) == result.schedules_run
    for schedule, trace in runs:
        replay = ReplayStrategy(schedule)
        replay.new_execution()
        assert run_once(scenario, replay).trace == trace


def test_two_thread_calls_explore_the_same_space_every_time() -> None:
    # Measured before: 20 identical explorations ran 1 schedule once and 2 schedules 19 times.
    counts = {sim.explore(two_threads, strategy="dfs").schedules_run for _ in range(20)}
    assert len(counts) == 1
    assert counts.pop() > 2  # both orders of the completions, and the steps around them


async def threads_lose_an_update() -> None:
    log: list[str] = []

    async def work(name: str) -> None:
        value = len(log)
        await trio.to_thread.run_sync(time.sleep, 0.001)
        log.append(f"{name}{value}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(work, "a")
        nursery.start_soon(work, "b")
    assert sorted(log) in (["a0", "b1"], ["a1", "b0"]), log


def test_a_thread_race_token_replays_every_time() -> None:
    result = sim.explore(threads_lose_an_update, strategy="dfs")
    assert [failure.kind for failure in result.failures] == ["assertion"]
    token = result.failures[0].token
    for _ in range(20):
        run = sim.replay(threads_lose_an_update, token)
        assert run.failure is not None
        assert run.failure.message == result.failures[0].message


def test_the_virtual_clock_stands_still_while_a_thread_runs() -> None:
    times: list[float] = []

    async def scenario() -> None:
        async def sleeper() -> None:
            await trio.sleep(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            await trio.to_thread.run_sync(time.sleep, 0.02)
            times.append(trio.current_time())

    result = sim.explore(scenario, strategy="dfs")
    assert result.failures == []
    assert times and set(times) == {0.0}  # the sleeper's deadline never fired while it ran


def test_a_thread_that_never_returns_is_reported_within_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RACESIM_EXTERNAL_WAIT", "0.2")
    release = threading.Event()

    async def scenario() -> None:
        await trio.to_thread.run_sync(release.wait)

    try:
        started = time.monotonic()
        result = sim.explore(scenario, strategy="dfs", max_schedules=1)
        waited = time.monotonic() - started
    finally:
        release.set()
    assert [failure.kind for failure in result.failures] == ["stalled"]
    message = result.failures[0].message
    assert "limit of 0.2 s" in message
    assert "main: waiting for a worker thread (trio.to_thread.run_sync)" in message
    assert "test_threads_io.py:" in message
    assert waited < 5  # reported at the limit (plus shrinking), not hung


def test_the_external_wait_limit_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACESIM_EXTERNAL_WAIT", "0")
    with pytest.raises(ValueError, match="external wait must be a number of seconds > 0"):
        sim._settings.from_env()
    monkeypatch.setenv("RACESIM_EXTERNAL_WAIT", "soon")
    with pytest.raises(ValueError, match="RACESIM_EXTERNAL_WAIT='soon' is not a number of seconds"):
        sim._settings.from_env()


def test_io_that_never_becomes_ready_is_reported_within_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RACESIM_EXTERNAL_WAIT", "0.2")

    async def scenario() -> None:
        left, right = trio.socket.socketpair()
        with left, right:
            await trio.lowlevel.wait_readable(right)

    result = sim.explore(scenario, strategy="dfs", max_schedules=1)
    assert [failure.kind for failure in result.failures] == ["stalled"]
    assert "main: waiting for I/O readiness" in result.failures[0].message


def test_a_thread_race_token_replays_in_another_process_with_another_hash_seed() -> None:
    result = sim.explore(threads_lose_an_update, strategy="dfs")
    failure = result.failures[0]
    script = (
        f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "import sim\nfrom test_threads_io import threads_lose_an_update\n"
        f"run = sim.replay(threads_lose_an_update, {failure.token!r})\n"
        "print(run.failure.message.splitlines()[0]); print(run.trace.order())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="777")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [failure.message.splitlines()[0], str(failure.trace.order())]
