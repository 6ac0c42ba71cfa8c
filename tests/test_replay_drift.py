"""Replays that survive a fix: for every bundled race, the token printed against the original system
replays against a copy with the race's real fix as "passes now", and against a copy with an
unrelated refactor (one more ``await``, every registry.py line moved) as "reproduces"; changed
code is named file by file; another failure is "a different failure"; factory parameters count.

The copies are judged with ``races=False``: each fix removes the delivery failure its scenario
expects (an assertion), not the unsynchronised publication of objects that racesim's data-race
check reports in every legacy and shipped run (a separate finding, with its own tokens). The
edits themselves are in ``sut_edits.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sut_edits
import trio

import sim
from sim._drift import Ending

if TYPE_CHECKING:
    from pathlib import Path

RACES = sorted(sut_edits.FIXES)


def replay_on_copy(
    tmp_path: Path, name: str, edits: sut_edits.Edits
) -> tuple[sim.Run, sim.Failure]:
    scenario, failure = sut_edits.expected_failure(name)
    assert failure.token.startswith("rs2.")
    copy = sut_edits.load_copy(tmp_path, edits)
    fn, requires = sut_edits.build(copy, scenario)
    return sim.replay(fn, failure.token, requires=requires, races=False), failure


@pytest.mark.parametrize("name", RACES)
def test_token_replays_as_passes_now_after_the_real_fix(tmp_path: Path, name: str) -> None:
    run, _ = replay_on_copy(tmp_path, name, sut_edits.FIXES[name])
    report = run.report
    assert report is not None
    assert run.failure is None
    assert report.ending is Ending.PASSES_NOW, report.describe()
    assert report.exit_code == 0
    assert report.applied >= report.recorded / 2
    assert report.describe().startswith(f"passes now; {report.applied} of {report.recorded}")
    edited = {file for file in sut_edits.FIXES[name]}
    assert set(report.code.changed) == edited, report.code.describe()


@pytest.mark.parametrize("name", RACES)
def test_token_reproduces_after_an_unrelated_refactor(tmp_path: Path, name: str) -> None:
    run, failure = replay_on_copy(tmp_path, name, sut_edits.REFACTOR)
    report = run.report
    assert report is not None and run.failure is not None
    assert report.ending is Ending.REPRODUCES, report.describe()
    assert report.exit_code == 1
    assert run.failure.kind == failure.kind
    # only agent.py's code changed; registry.py's lines moved, which is not a change of code
    assert report.code.changed == ("agent.py",)
    assert run.failure.token != failure.token  # a fresh token for the code as it is now


def test_a_copy_without_edits_replays_exactly(tmp_path: Path) -> None:
    run, failure = replay_on_copy(tmp_path, "legacy_concurrent_creation", {})
    report = run.report
    assert report is not None and run.failure is not None
    assert report.ending is Ending.REPRODUCES
    assert report.exact and not report.code.any and report.drift == ()
    assert run.failure.token == failure.token


def test_moved_lines_are_reported_as_drift_with_both_sites(tmp_path: Path) -> None:
    run, _ = replay_on_copy(tmp_path, "legacy_agent_before_propagation", sut_edits.REFACTOR)
    report = run.report
    assert report is not None
    moved = [line for line in report.drift if "registry.py:" in line and "is now at" in line]
    assert moved, report.describe()
    before, after = moved[0].split(" is now at ")
    assert int(after.rsplit(":", 1)[1]) == int(before.rsplit(":", 1)[1]) + 2


def test_a_change_that_breaks_something_else_is_a_different_failure(tmp_path: Path) -> None:
    broken = {
        "agent.py": [
            (
                "        await self._emit(AGENT_COMPLETED)\n",
                '        raise RuntimeError("the agent crashed before completing")\n',
            )
        ]
    }
    run, _ = replay_on_copy(tmp_path, "shipped_tool_events_dropped", broken)
    report = run.report
    assert report is not None and run.failure is not None
    assert report.ending is Ending.DIFFERENT_FAILURE
    assert report.exit_code == 4
    assert "crashed before completing" in run.failure.message
    assert report.describe().startswith("a different failure")


def make(workers: int):
    """A factory: ``make(n)`` is the lost update with ``n`` incrementing tasks."""

    @sim.tracked
    class Total:
        def __init__(self) -> None:
            self.value = 0

    async def scenario() -> None:
        total = Total()

        async def increment() -> None:
            seen = total.value
            await trio.sleep(0)
            total.value = seen + 1

        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(increment)
        if total.value != workers:
            raise AssertionError(f"lost update: {total.value} of {workers}")

    return scenario


def test_a_token_of_one_factory_parameter_is_refused_by_another() -> None:
    failure = sim.explore(make(2), strategy="dfs", races=False).failures[0]
    assert sim.replay(make(2), failure.token, races=False).report.ending is Ending.REPRODUCES  # type: ignore[union-attr]
    with pytest.raises(sim.TokenMismatch, match="other parameters"):
        sim.replay(make(5), failure.token, races=False)


def test_an_rs1_token_still_replays_exactly() -> None:
    scenario = make(2)
    failure = sim.explore(scenario, strategy="dfs", races=False).failures[0]
    rs1 = failure.schedule.encode(sim._explore.fingerprint_of(scenario))
    run = sim.replay(scenario, rs1, races=False)
    assert run.report is None
    assert run.failure is not None and run.failure.message == failure.message
    assert run.trace == failure.trace
