"""POS: priorities per pending step, re-drawn only for the steps that race with what ran."""

from __future__ import annotations

from strategy_models import probe

import sim
from sim._run import run_once
from sim._trace import Access, Step
from sim.strategies import PosStrategy

from models import lost_update


def step(seq: int, task: int, *accesses: tuple[str, str]) -> Step:
    return Step(
        seq=seq,
        task=task,
        index=seq,
        location="x.py:1",
        accesses=tuple(Access("Cell#1", attr, kind) for attr, kind in accesses),  # type: ignore[arg-type]
    )


def test_a_step_redraws_the_priorities_of_racing_pending_steps_only() -> None:
    strategy = PosStrategy(seed=3)
    strategy.new_execution()
    history = [step(0, 0, ("x", "read")), step(1, 1, ("y", "read")), step(2, 2, ("z", "write"))]
    strategy._observe(history)
    before = dict(strategy._priority)
    strategy._observe([*history, step(3, 3, ("x", "write"))])  # races with task 0's estimate
    after = strategy._priority
    assert after[0] != before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert 3 in after


def test_the_task_that_ran_draws_a_new_priority_for_its_next_step() -> None:
    strategy = PosStrategy(seed=4)
    strategy.new_execution()
    strategy._observe([step(0, 0)])
    first = strategy._priority[0]
    strategy._observe([step(0, 0), step(1, 0)])
    assert strategy._priority[0] != first


def test_pos_finds_the_lost_update() -> None:
    for seed in range(5):
        result = sim.explore(lost_update, strategy=PosStrategy(seed), races=False, max_schedules=50)
        assert [f.kind for f in result.failures] == ["assertion"], seed


def orders(seed: int, runs: int = 20) -> list[tuple[str, ...]]:
    strategy = PosStrategy(seed)
    seen = []
    for _ in range(runs):
        strategy.new_execution()
        outcome = run_once(probe(8, 4), strategy, seed=strategy.execution_seed or 0)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        seen.append(outcome.trace.order())
    return seen


def test_pos_runs_are_identical_for_a_seed_and_differ_across_seeds() -> None:
    assert orders(1) == orders(1)
    assert orders(1) != orders(2)
    assert len(set(orders(1))) > 1


def test_a_printed_pos_seed_replays_its_run_as_a_first_execution() -> None:
    found = sim.explore(
        probe(8, 4), strategy=PosStrategy(7), races=False, shrink=False, max_schedules=500
    ).failures[0]
    assert found.found_at > 0
    again = sim.explore(
        probe(8, 4),
        strategy=PosStrategy(found.seed),  # type: ignore[arg-type]
        max_schedules=1,
        suppress_health_check=[sim.HealthCheck.tiny_budget],
        races=False,
        shrink=False,
    )
    assert again.first_failure_at == 0
    assert again.failures[0].schedule == found.schedule
