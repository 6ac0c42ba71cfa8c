"""Counterfactual root cause: the ordering whose reversal makes a failure disappear, checked against
every interleaving (dfs) on a small model, and, for every bundled race, the pair of tasks a reader
of SUT.md names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sut_edits
import trio

import sim
from sim._cause import CAUSE_RUNS, FollowOrder, reversed_order
from sim._run import run_once

if TYPE_CHECKING:
    from sim._cause import Cause, RootCause


@sim.tracked
class Flag:
    def __init__(self) -> None:
        self.value = 0
        self.noise = 0


async def read_before_set() -> None:
    """``reader`` must see the flag ``setter`` sets; ``noise`` touches unrelated state."""
    flag = Flag()
    seen: list[int] = []

    async def setter() -> None:
        await trio.sleep(0)
        flag.value = 1

    async def reader() -> None:
        await trio.sleep(0)
        seen.append(flag.value)

    async def noise() -> None:
        for _ in range(2):
            flag.noise += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(noise)
        nursery.start_soon(reader)
        nursery.start_soon(setter)
    if seen != [1]:
        raise AssertionError("the reader ran before the flag was set")


def _sole_cause(root: RootCause) -> Cause:
    assert len(root.causes) == 1, root.describe()
    return root.causes[0]


def test_the_cause_of_an_order_violation_is_the_read_before_the_write() -> None:
    result = sim.explore(read_before_set, strategy="dfs", races=False)
    failure = result.failures[0]
    root = failure.root_cause
    assert root is not None and 0 < root.runs <= CAUSE_RUNS
    cause = _sole_cause(root)
    assert (cause.first_task, cause.second_task) == ("reader", "setter")
    assert (cause.access, cause.other) == ("reads Flag#1.value", "writes Flag#1.value")
    assert cause.verified and not cause.instead
    assert "fails when 'reader'" in failure.describe()
    assert f"root cause ({root.runs} re-runs" in failure.describe()


def test_the_cause_agrees_with_every_interleaving() -> None:
    """The reference: over all interleavings (dfs), a run fails exactly when the cause's order
    holds — so reversing it is what makes the failure disappear, not a lucky re-run."""
    failure = sim.explore(read_before_set, strategy="dfs", races=False).failures[0]
    cause = _sole_cause(failure.root_cause)
    outcomes = []
    dfs = sim.strategies.DfsStrategy()
    while dfs.new_execution():
        outcome = run_once(read_before_set, dfs)
        dfs.execution_finished(outcome.trace, outcome.schedule)
        order = [outcome.trace.task_name(step.task) for step in outcome.trace.steps]
        reads = [i for i, s in enumerate(outcome.trace.steps) if order[i] == cause.first_task]
        writes = [i for i, s in enumerate(outcome.trace.steps) if order[i] == cause.second_task]
        outcomes.append((reads[-1] < writes[-1], outcome.failed))
    assert len(outcomes) > 10
    assert all(read_first == failed for read_first, failed in outcomes)


def test_reversing_an_ordering_moves_only_the_later_task() -> None:
    failure = sim.explore(read_before_set, strategy="dfs", races=False).failures[0]
    trace = failure.trace
    cause = _sole_cause(failure.root_cause)
    order = reversed_order(trace, cause.first, cause.second)
    assert sorted(order) == sorted(trace.order())
    strategy = FollowOrder(order)
    strategy.new_execution()
    outcome = run_once(read_before_set, strategy)
    assert not outcome.failed
    assert [n for n in outcome.trace.order() if n != "setter"] == [
        n for n in trace.order() if n != "setter"
    ]


def test_a_data_race_is_its_own_cause_without_re_runs() -> None:
    failures = sim.explore(read_before_set, strategy="dfs", max_failures=5).failures
    failure = next(f for f in failures if f.kind == "race")
    root = failure.root_cause
    assert root is not None and root.runs == 0
    assert "are not ordered: either can run first" in root.describe()


def _root_cause(name: str) -> RootCause:
    _, failure = sut_edits.expected_failure(name)
    assert failure.root_cause is not None
    return failure.root_cause


def _passing(root: RootCause) -> list[tuple[str, str, str]]:
    """(first task, second task, shared object.attribute) of the reversals after which it passes."""
    return [
        (c.first_task, c.second_task, c.access.split(" ", 1)[1])
        for c in root.causes
        if c.verified and not c.instead
    ]


# What a reader of SUT.md names for each race: the two tasks, which ran first, and the state.
NAMED = {
    # (1) the request read the registry's manager before wiring set it
    "legacy_agent_before_propagation": ("requests-u1", "wiring", "LegacyAgentRegistry#1.manager"),
    # (2) the manager is set, the registry bridge not yet: the request read it first
    "legacy_manager_set_bridge_not_yet": (
        "requests-u1",
        "background-wiring",
        "LegacyAgentRegistry#1.bridge",
    ),
    # (3) u2's request arrived before the manager, so only propagation could wire its session
    "legacy_propagation_vs_new_session": ("requests-u2", "wiring", "LegacyAgentRegistry#1.manager"),
    # (4) the second creation replaced the session's bridge before the first agent read it
    "legacy_concurrent_creation": ("u1-r1", "u1-r0", "UserAgentSession#1.bridge"),
    # the reconnect replays the queue after the live send reached the new connection
    "shipped_reconnect_replay_reorder": (
        "requests-u1",
        "reconnect-u1",
        "ClientConnection#2.received",
    ),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_every_timing_race_names_the_pair_a_reader_names(name: str) -> None:
    root = _root_cause(name)
    assert NAMED[name] in _passing(root), root.describe()
    assert root.runs <= CAUSE_RUNS


@pytest.mark.parametrize(
    "name",
    [
        # (5) one dispatcher for everybody: whichever user comes first, the other's tool events
        # leak; no ordering alone fixes it
        "legacy_shared_dispatcher_leak",
        # the shipped dispatcher has no bridge at all: tool events drop in every order
        "shipped_tool_events_dropped",
    ],
)
def test_races_that_are_not_about_timing_name_no_ordering(name: str) -> None:
    root = _root_cause(name)
    assert _passing(root) == [], root.describe()
    assert root.tried > 0
