"""Async-generator finalisation and garbage run under the schedule, not under trio's seed.

trio closes an abandoned async generator in a system task whose place among model steps used to
follow trio's batch shuffle: the same schedule passed or failed by trio's internal seed, and by
whether ``hypothesis`` was imported (which switches trio to another shuffle). racesim now runs the
finaliser as a model task (``aclose <name>``), so every interleaving of it is a schedule and each
schedule means one run. The reference here is the program itself run under many internal seeds
and in fresh processes: the outcomes must not move.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import sim
from sim._run import run_once
from sim.strategies import DfsStrategy

TESTS = Path(__file__).parent

#: What the tasks of the scenarios below did, in order (plain module state, reset per run).
log: list[str] = []


async def abandoned() -> None:
    """A consumer breaks out of an async generator: its ``finally`` runs when it is finalised."""
    log.clear()

    async def numbers():
        try:
            for number in range(3):
                yield number
        finally:
            log.append("closed")

    async def consumer() -> None:
        async for _ in numbers():
            break
        await trio.lowlevel.checkpoint()
        log.append("consumer")

    async def other() -> None:
        await trio.lowlevel.checkpoint()
        log.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        nursery.start_soon(other)
    assert log[:1] == ["closed"], f"the generator was finalised late: {log}"


async def awaiting_finaliser() -> None:
    """The generator's ``finally`` awaits: trio's finaliser runs it cancelled, so the await raises."""
    log.clear()

    async def numbers():
        try:
            yield 1
            yield 2
        finally:
            try:
                await trio.lowlevel.checkpoint()
            except trio.Cancelled:
                log.append("finaliser cancelled")
                raise

    async def consumer() -> None:
        async for _ in numbers():
            break
        log.append("consumer")
        await trio.lowlevel.checkpoint()

    async def other() -> None:
        log.append("other")
        await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        nursery.start_soon(other)


def every_run(scenario, seed: int) -> list[tuple[object, ...]]:
    """(task order, log, failure kind) of every dfs schedule, in exploration order."""
    strategy = DfsStrategy()
    runs = []
    while strategy.new_execution():
        outcome = run_once(scenario, strategy, seed=seed)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        runs.append((outcome.trace.order(), tuple(log), outcome.kind))
    return runs


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("scenario", [abandoned, awaiting_finaliser], ids=lambda s: s.__name__)
def test_finalisation_is_the_same_under_twenty_internal_seeds(scenario) -> None:
    reference = every_run(scenario, seed=0)
    assert any(order[-1].startswith("aclose") for order, _, _ in reference)
    assert len({run[1] for run in reference}) >= 2  # the finaliser interleaves: a schedule choice
    for seed in range(1, 20):
        assert every_run(scenario, seed=seed) == reference


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_awaiting_finaliser_is_cancelled_in_a_model_step() -> None:
    runs = every_run(awaiting_finaliser, seed=0)
    assert all("finaliser cancelled" in run[1] for run in runs)
    assert all(run[2] is None for run in runs)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_token_found_with_seed_two_replays_identically_with_and_without_hypothesis() -> None:
    result = sim.explore(abandoned, strategy="dfs", seed=2, races=False)
    (failure,) = result.failures
    assert "finalised late" in failure.message
    outputs = []
    for prelude in ("", "import hypothesis\n"):
        code = (
            "import json, warnings\n"
            + prelude
            + "warnings.simplefilter('ignore', ResourceWarning)\n"
            "import sim, test_finalisation as t\n"
            f"run = sim.replay(t.abandoned, {failure.token!r}, races=False)\n"
            "print(json.dumps([run.failure and run.failure.kind, run.failure and "
            "run.failure.message, list(run.trace.order()), t.log]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            check=False,
            cwd=TESTS,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        outputs.append(json.loads(out.stdout))
    assert outputs[0] == outputs[1]
    kind, message, order, _ = outputs[0]
    assert (kind, order) == (failure.kind, list(failure.trace.order()))
    assert message.splitlines()[0] == failure.message.splitlines()[0]  # pytest rewrote the assert
