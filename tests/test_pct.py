"""PCT: random priorities, d - 1 change points, and the probability bound it reports."""

from __future__ import annotations

import pytest
from strategy_models import probe

import sim
from sim.strategies import PctStrategy

from models import lost_update


def test_the_bound_is_one_over_n_times_k_to_the_power_d_minus_one() -> None:
    strategy = PctStrategy(depth=3)
    strategy.tasks_seen, strategy.steps_seen = 4, 10
    assert strategy.bound() == pytest.approx(1 / (4 * 10**2))
    strategy.depth = 1
    assert strategy.bound() == pytest.approx(1 / 4)


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.99])
def test_runs_for_is_the_fewest_runs_that_reach_the_confidence(confidence: float) -> None:
    strategy = PctStrategy(depth=2)
    strategy.tasks_seen, strategy.steps_seen = 3, 54
    runs = strategy.runs_for(confidence)
    miss = 1 - strategy.bound()
    assert miss**runs <= 1 - confidence < miss ** (runs - 1)


def test_describe_reports_the_bound_for_the_tasks_and_steps_seen() -> None:
    strategy = PctStrategy(seed=1, depth=2)
    result = sim.explore(probe(10, 5), strategy=strategy, max_schedules=3, races=False)
    n, k = strategy.tasks_seen, strategy.steps_seen
    assert (n, k) == (3, 14)
    assert result.strategy == (
        f"pct (depth 2; each run hits any depth-2 bug with probability >= 1/{n * k} "
        f"for n={n} tasks, k={k} steps)"
    )
    assert PctStrategy().describe() == "pct (depth 3)"


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_every_run_has_d_minus_one_change_points_within_the_estimated_length(depth: int) -> None:
    strategy = PctStrategy(seed=depth, depth=depth)
    for _ in range(20):
        strategy.new_execution()
        changes = strategy._changes
        assert len(changes) == depth - 1
        assert changes == sorted(set(changes))
        assert all(1 <= change <= (strategy.steps_seen or 50) for change in changes)
        strategy.steps_seen = 30


def test_without_change_points_the_highest_priority_task_is_never_preempted() -> None:
    scenario = probe(10, 5)
    calm = sim.explore(
        scenario, strategy=PctStrategy(seed=0, depth=1), max_schedules=50, races=False
    )
    assert calm.ok
    assert calm.schedules_run == 50
    strategy = PctStrategy(seed=0, depth=2)
    result = sim.explore(scenario, strategy=strategy, max_schedules=500, races=False)
    assert not result.ok
    assert result.failures[0].schedule.preemptions == 1


def test_a_printed_pct_seed_replays_its_run_as_a_first_execution() -> None:
    scenario = probe(20, 10)
    found = sim.explore(
        scenario, strategy=PctStrategy(seed=5, depth=2), races=False, shrink=False
    ).failures[0]
    assert found.found_at > 0
    again = sim.explore(
        scenario,
        strategy=PctStrategy(seed=found.seed, depth=2),  # type: ignore[arg-type]
        max_schedules=1,
        suppress_health_check=[sim.HealthCheck.tiny_budget],
        races=False,
        shrink=False,
    )
    assert again.first_failure_at == 0
    assert again.failures[0].schedule == found.schedule


def test_pct_finds_the_lost_update_within_its_bound() -> None:
    strategy = PctStrategy(seed=0)
    result = sim.explore(lost_update, strategy=strategy, races=False)
    assert [f.kind for f in result.failures] == ["assertion"]
    assert result.first_failure_at is not None
    assert result.first_failure_at < strategy.runs_for(0.99)


def test_a_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth must be at least 1"):
        PctStrategy(depth=0)
