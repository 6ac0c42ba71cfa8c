"""DPOR is optimal on the classic benchmarks: exactly one execution per Mazurkiewicz trace.

The number of traces is derived independently of ``sim.strategies.dpor``: ``dfs`` runs every
interleaving, and executions are grouped by the order of their dependent step pairs (two steps of
different tasks are dependent when an access of one conflicts with an access of the other; the
exits of sibling tasks from their nursery commute). Where brute force is out of reach the closed
forms stand in: 1 for disjoint writers, (N!)^2 for the read-checkpoint-write counter, N! when the
increment is atomic.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from sim._run import run_once
from sim.strategies import DfsStrategy, DporStrategy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategy_models import counter, disjoint, indexer, lastzero


def _child_exit(step, access) -> bool:
    return (
        access.kind == "release"
        and step.location == "exit"
        and not step.spawned
        and access.obj.startswith("Nursery#")
    )


def _dependent(first, second) -> bool:
    return any(
        a.conflicts_with(b) and not (_child_exit(first, a) and _child_exit(second, b))
        for a in first.accesses
        for b in second.accesses
    )


def mazurkiewicz_traces(scenario) -> int:
    """The number of equivalence classes among all interleavings (brute force)."""
    strategy = DfsStrategy()
    classes = set()
    while strategy.new_execution():
        outcome = run_once(scenario, strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        trace = outcome.trace
        steps = trace.steps
        event = [(trace.task_name(step.task), step.index) for step in steps]
        ordered = frozenset(
            (event[i], event[j])
            for j in range(len(steps))
            for i in range(j)
            if steps[i].task != steps[j].task and _dependent(steps[i], steps[j])
        )
        classes.add((frozenset(event), ordered))
    assert strategy.exhausted
    return len(classes)


def dpor_executions(scenario) -> tuple[int, int]:
    """Executions ``dpor`` runs to exhaust the scenario, and how many states were sleep-blocked."""
    strategy = DporStrategy()
    runs = 0
    while strategy.new_execution():
        outcome = run_once(scenario, strategy)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        runs += 1
    return runs, strategy.sleep_blocked


BRUTE_FORCE = {
    "disjoint-2": disjoint(2),
    "disjoint-3": disjoint(3),
    "counter-2": counter(2),
    "counter-3": counter(3),
    "counter-3-atomic": counter(3, atomic=True),
    "lastzero-2": lastzero(2),
    "lastzero-3": lastzero(3),
    "indexer-2x2-4": indexer(2, 2, 4),
    "indexer-2x2-5": indexer(2, 2, 5),
    "indexer-2x3-6": indexer(2, 3, 6),
}


@pytest.mark.parametrize("name", sorted(BRUTE_FORCE))
def test_dpor_runs_one_execution_per_mazurkiewicz_trace(name: str) -> None:
    scenario = BRUTE_FORCE[name]
    traces = mazurkiewicz_traces(scenario)
    runs, blocked = dpor_executions(scenario)
    assert (runs, blocked) == (traces, 0)


def test_the_brute_force_count_distinguishes_the_traces_it_should() -> None:
    assert mazurkiewicz_traces(disjoint(3)) == 1
    assert mazurkiewicz_traces(counter(2)) == 4
    assert mazurkiewicz_traces(indexer(2, 2, 4)) > 1


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_disjoint_writers_take_exactly_one_execution(n: int) -> None:
    assert dpor_executions(disjoint(n)) == (1, 0)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_a_shared_counter_takes_one_execution_per_trace(n: int) -> None:
    assert dpor_executions(counter(n, atomic=True)) == (math.factorial(n), 0)
    assert dpor_executions(counter(n)) == (math.factorial(n) ** 2, 0)
