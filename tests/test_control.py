"""The gate on trio's run queue: exact interleaving counts, modes, deadlock and budget detection."""

from __future__ import annotations

import math

import pytest
import trio
from trio._core import _run as trio_run

import sim
from sim._run import run_once
from sim.strategies import DfsStrategy

from models import abba, lost_update, sleeper, spinner, three_increments, workers

#: pure-checkpoint workers share nothing, on purpose
NOTHING_SHARED = sim.HealthCheck.nothing_shared


def test_dfs_enumerates_all_70_schedules_of_two_tasks_with_three_checkpoints() -> None:
    result = sim.explore(
        workers(2, 3),
        strategy="dfs",
        max_schedules=10_000,
        races=False,
        suppress_health_check=[NOTHING_SHARED],
    )
    assert result.schedules_run == math.comb(8, 4) == 70
    assert result.distinct_orders == 70
    assert result.exhausted is True
    assert result.exit_reason is sim.ExitReason.EXHAUSTED
    assert result.failures == []


def test_dfs_enumerates_all_1680_schedules_of_three_tasks_with_two_checkpoints() -> None:
    result = sim.explore(
        workers(3, 2),
        strategy="dfs",
        max_schedules=10_000,
        races=False,
        suppress_health_check=[NOTHING_SHARED],
    )
    expected = math.factorial(9) // math.factorial(3) ** 3
    assert result.schedules_run == expected == 1680
    assert result.distinct_orders == expected
    assert result.exhausted is True


def test_batch_mode_only_permutes_within_trio_batches() -> None:
    # Both workers are runnable at every batch: 4 batches of 2 steps, each in either order.
    result = sim.explore(
        workers(2, 3),
        strategy="dfs",
        mode="batch",
        max_schedules=10_000,
        races=False,
        suppress_health_check=[NOTHING_SHARED],
    )
    assert result.schedules_run == 2**4
    assert result.exhausted is True


def test_free_mode_reaches_every_lost_update_outcome_trio_alone_cannot() -> None:
    finals: set[object] = set()

    class Collect(sim.strategies.DfsStrategy):  # type: ignore[name-defined]
        def execution_finished(self, trace, schedule):  # type: ignore[no-untyped-def]
            finals.update(note.attr("value") for note in trace.notes if note.label == "final")
            super().execution_finished(trace, schedule)

    result = sim.explore(three_increments, strategy=Collect(), max_schedules=100_000, races=False)
    assert result.exhausted
    assert finals == {1, 2, 3}


def test_deadlock_is_reported_with_both_tasks_and_the_wait_for_cycle() -> None:
    result = sim.explore(abba, strategy="dfs", races=False)
    assert [failure.kind for failure in result.failures] == ["deadlock"]
    message = result.failures[0].message
    assert "left: blocked in left()" in message
    assert "right: blocked in right()" in message
    assert "models.py:" in message
    assert "wait-for cycle:" in message
    assert "Lock#1" in message and "Lock#2" in message


def test_runaway_loop_is_reported_at_the_step_budget_not_hung() -> None:
    result = sim.explore(spinner, strategy="dfs", max_steps=500, races=False)
    assert [failure.kind for failure in result.failures] == ["livelock"]
    assert "step budget of 500 steps" in result.failures[0].message
    assert "spin: blocked in spin()" in result.failures[0].message


def test_sleep_takes_virtual_not_real_time() -> None:
    result = sim.explore(sleeper, strategy="dfs", races=False)
    assert result.failures == []  # sleeper asserts trio.current_time() moved by exactly 5
    strategy = DfsStrategy()
    strategy.new_execution()
    assert run_once(sleeper, strategy).virtual_time == 5  # the MockClock jumped; nobody waited


def test_exception_in_a_model_task_is_a_failure_with_its_traceback() -> None:
    async def scenario() -> None:
        async def boom() -> None:
            await trio.sleep(0)
            raise KeyError("missing-session")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(boom)

    result = sim.explore(scenario, strategy="dfs", races=False)
    failure = result.failures[0]
    assert failure.kind == "exception"
    assert "KeyError: 'missing-session'" in failure.message
    assert "raise KeyError" in failure.details


def test_run_queue_is_restored_after_a_failing_run() -> None:
    sim.explore(lost_update, strategy="dfs", races=False)

    async def probe() -> type:
        return type(trio_run.GLOBAL_RUN_CONTEXT.runner.runq)

    assert trio.run(probe).__name__ == "deque"


def test_step_locations_name_the_user_checkpoint() -> None:
    result = sim.explore(lost_update, strategy="dfs", races=False)
    locations = {step.location for step in result.failures[0].trace.steps}
    assert any(location.startswith("models.py:") for location in locations)
    assert "exit" in locations


def test_unknown_mode_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'free' or 'batch'"):
        sim.explore(lost_update, strategy="dfs", mode="fast")
