"""Strategy names, ``resolve``, and the determinism every strategy promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.strategies import (
    NAMES,
    DfsStrategy,
    DporStrategy,
    PctStrategy,
    PosStrategy,
    RandomStrategy,
    resolve,
)

from models import lost_update


def test_every_strategy_is_known_by_name() -> None:
    assert NAMES == ("dfs", "dpor", "pct", "pos", "random")
    for name in NAMES:
        assert resolve(name).name == name


def test_resolve_passes_the_seed_and_the_preemption_bound() -> None:
    assert resolve("pct", seed=7).seed == 7
    assert resolve("pos", seed=8).seed == 8
    assert resolve("random", seed=9).seed == 9
    assert resolve("dpor", preemption_bound=2).preemption_bound == 2
    assert resolve("dfs", preemption_bound=1).preemption_bound == 1


def test_an_unknown_name_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'chaos'") as raised:
        resolve("chaos")
    assert all(name in str(raised.value) for name in NAMES)


def test_strategy_objects_are_used_as_they_are() -> None:
    strategy = DporStrategy()
    assert resolve(strategy) is strategy
    with pytest.raises(TypeError, match="strategy must be a name"):
        resolve(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("strategy", "exhaustive"),
    [(DfsStrategy(), True), (DporStrategy(), True), (PctStrategy(), False), (PosStrategy(), False)],
)
def test_only_systematic_strategies_claim_exhaustion(strategy, exhaustive: bool) -> None:
    result = sim.explore(lost_update, strategy=strategy, max_schedules=200, max_failures=5)
    assert result.exhausted is exhaustive


PROGRAM = """
import json, sys
sys.path.insert(0, {tests!r})
from models import lost_update
from sim._run import run_once
from sim.strategies import resolve
out = {{}}
for name in ("pct", "pos", "random", "dpor"):
    strategy = resolve(name, seed=11)
    orders = []
    while len(orders) < 25 and strategy.new_execution():
        seed = getattr(strategy, "execution_seed", None)
        outcome = run_once(lost_update, strategy, seed=seed if seed is not None else 0)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        orders.append(outcome.schedule.indices)
    out[name] = orders
print(json.dumps(out))
"""


def test_schedules_are_identical_across_processes_with_different_hash_seeds() -> None:
    tests = str(Path(__file__).resolve().parent)
    outputs = []
    for hash_seed in ("1", "2024"):
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM.format(tests=tests)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0]["pct"] != outputs[0]["pos"]


@pytest.mark.parametrize("name", ["random", "pct", "pos"])
def test_a_failure_seed_reproduces_its_run_in_a_fresh_exploration(name: str) -> None:
    found = sim.explore(lost_update, strategy=name, seed=3, races=False, shrink=False)
    failure = found.failures[0]
    again = sim.explore(
        lost_update,
        strategy=name,
        seed=failure.seed,
        max_schedules=1,
        suppress_health_check=[sim.HealthCheck.tiny_budget],
        races=False,
        shrink=False,
    )
    assert again.first_failure_at == 0
    assert again.failures[0].schedule == failure.schedule


def test_randomised_strategies_describe_themselves() -> None:
    assert RandomStrategy().describe() == "random"
    assert PosStrategy().describe() == "pos"
    assert DporStrategy().describe() == "dpor (optimal: wake-up trees + sleep sets)"
    assert DporStrategy(preemption_bound=2).describe() == "dpor (preemption bound 2)"
