"""Every strategy finds what it is for, within a stated budget.

- Every race scenario of the system under test (``scenarios/*.toml`` with ``expect = "race"``) is
  found by ``dpor``, ``pct``, ``pos`` and ``random`` — for five seeds each of the randomised ones —
  within :data:`SUT_BUDGET` schedules: a failure of the kind the file expects, mentioning what it
  says.
- PCT finds a depth-2 ordering bug hidden among 50 steps within the runs its own probability bound
  predicts (:meth:`PctStrategy.runs_for`), for 20 seeds out of 20.
- POS finds a rare partial order far sooner than uniform random scheduling.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import sim
from sim._explore import judge
from sim._run import run_once
from sim._scenario import Scenario, discover
from sim.strategies import PctStrategy, PosStrategy, RandomStrategy, resolve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategy_models import probe

ROOT = Path(__file__).resolve().parents[2]
RACES = [s for s in discover([ROOT / "scenarios"]) if s.expect == "race"]
#: Schedules within which every strategy finds every race scenario (measured: at most 75).
SUT_BUDGET = 150
SEEDS = range(5)


def schedules_to_expected_failure(scenario: Scenario, strategy_name: str, seed: int) -> int | None:
    """Runs until the first failure the scenario file expects (1-based), or None."""
    assert scenario.expect_failure is not None
    fn, order = scenario.build()
    requires = order if order.rules else None
    strategy = resolve(strategy_name, seed=seed)
    runs = 0
    while runs < SUT_BUDGET and strategy.new_execution():
        execution_seed = getattr(strategy, "execution_seed", None)
        outcome = run_once(fn, strategy, seed=execution_seed or 0)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        runs += 1
        verdict = judge(outcome, requires, scenario.explore_settings.races)
        if verdict is None:
            continue
        kind, message, details, _, _ = verdict
        expected = scenario.expect_failure
        if kind in expected.kinds and all(m in f"{message}\n{details}" for m in expected.mentions):
            return runs
    return None


def test_there_are_race_scenarios_to_find() -> None:
    assert len(RACES) >= 5


@pytest.mark.parametrize("scenario", RACES, ids=[s.name for s in RACES])
@pytest.mark.parametrize("strategy", ["dpor", "pct", "pos", "random"])
def test_every_strategy_finds_every_race_scenario(scenario: Scenario, strategy: str) -> None:
    for seed in [0] if strategy == "dpor" else SEEDS:
        found = schedules_to_expected_failure(scenario, strategy, seed)
        assert found is not None, f"{strategy} (seed {seed}) missed {scenario.name}"


def test_pct_finds_a_depth_two_bug_within_its_bound_for_every_seed() -> None:
    scenario = probe(50, 25)  # the long task must be preempted right after its 25th step
    calibration = PctStrategy(depth=2)
    sim.explore(
        scenario,
        strategy=calibration,
        max_schedules=1,
        suppress_health_check=[sim.HealthCheck.tiny_budget],
        races=False,
    )
    budget = calibration.runs_for(0.99)
    assert (calibration.tasks_seen, calibration.steps_seen) == (3, 54)
    assert budget == 744  # 1 / bound = n * k = 162 runs on average, at worst
    for seed in range(20):
        result = sim.explore(
            scenario,
            strategy=PctStrategy(seed=seed, depth=2),
            max_schedules=budget,
            races=False,
            shrink=False,
        )
        assert result.first_failure_at is not None, f"seed {seed}: not found in {budget} runs"


def test_pos_finds_a_rare_partial_order_far_sooner_than_random() -> None:
    scenario = probe(20, 10)
    budget = 600

    def runs_to_find(strategy) -> int:
        result = sim.explore(
            scenario, strategy=strategy, max_schedules=budget, races=False, shrink=False
        )
        return budget if result.first_failure_at is None else result.first_failure_at + 1

    pos = [runs_to_find(PosStrategy(seed)) for seed in range(10)]
    uniform = [runs_to_find(RandomStrategy(seed)) for seed in range(10)]
    assert max(pos) < budget
    assert sum(pos) * 2 < sum(uniform)
