"""Never-awaited coroutines are failures of kind ``unawaited``; racesim refuses a nested trio.run.

The seed report's "interface-violation suite" produced its evidence by calling an async setter
without ``await``: the coroutine was created and dropped, nothing ran, and no tool said so. racesim
reports such a coroutine as its own kind of failure, naming it and the line that created it, ahead
of the lost events it causes — and never as a race. The reference for "which line" is the source
of this file itself (the marked lines below).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import trio

import sim
from sim import cli
from sim._explore import fingerprint_of
from sim._run import InsideTrioRun
from sim._scenario import ScenarioError, load_scenario
from system_under_test import build

ROOT = Path(__file__).resolve().parents[1]
UNAWAITED_SCENARIO = ROOT / "scenarios" / "legacy_unawaited_manager_setter.toml"


def line_of(marker: str) -> int:
    """The line of this file that carries ``marker`` in a comment."""
    lines = Path(__file__).read_text().splitlines()
    return next(number for number, text in enumerate(lines, 1) if f"# {marker}" in text)


class Registry:
    def __init__(self) -> None:
        self.manager: object = None

    async def set_manager(self, manager: object) -> None:
        self.manager = manager


async def forgets_await() -> None:
    registry = Registry()

    async def wire() -> None:
        registry.set_manager("ws")  # type: ignore[unused-coroutine]  # CREATED-PLAIN

    async def request() -> None:
        await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wire)
        nursery.start_soon(request)
    assert registry.manager == "ws", "the registry was never wired"


async def forgets_await_in_a_cycle() -> None:
    registry = Registry()
    holder: dict[str, object] = {}
    holder["self"] = holder
    holder["pending"] = registry.set_manager("ws")  # CREATED-CYCLE
    del holder
    await trio.lowlevel.checkpoint()


async def awaits_everything() -> None:
    registry = Registry()
    pending = registry.set_manager("ws")
    await pending
    assert registry.manager == "ws"


def test_never_awaited_coroutine_is_an_unawaited_failure_naming_it_and_its_line() -> None:
    result = sim.explore(forgets_await, strategy="dpor")
    assert [f.kind for f in result.failures] == ["unawaited"]
    failure = result.failures[0]
    assert "coroutine 'Registry.set_manager' was never awaited" in failure.message
    assert f"test_unawaited.py:{line_of('CREATED-PLAIN')} in wire()" in failure.message
    assert "dropped by task wire" in failure.message
    # the assertion it caused is told too, after the cause
    assert "the run also failed (assertion)" in failure.details
    assert "the registry was never wired" in failure.details
    assert "_run.py" not in failure.details  # racesim's root wrapper is not the user's code
    run = sim.replay(forgets_await, failure.token)
    assert run.failure is not None
    assert (run.failure.kind, run.failure.message) == ("unawaited", failure.message)


def test_coroutine_dropped_in_a_reference_cycle_is_found_by_the_collection_at_the_end() -> None:
    result = sim.explore(forgets_await_in_a_cycle, strategy="dpor")
    assert [f.kind for f in result.failures] == ["unawaited"]
    assert f"test_unawaited.py:{line_of('CREATED-CYCLE')}" in result.failures[0].message


def test_awaited_coroutines_are_not_reported() -> None:
    result = sim.explore(awaits_everything, strategy="dfs")
    assert result.failures == []
    assert result.exhausted


def test_a_run_restores_origin_tracking_the_collector_and_the_warning_hook() -> None:
    hook = warnings._warn_unawaited_coroutine  # type: ignore[attr-defined]
    depth = sys.get_coroutine_origin_tracking_depth()
    enabled = gc.isenabled()
    sim.explore(forgets_await, strategy="dpor")
    assert warnings._warn_unawaited_coroutine is hook  # type: ignore[attr-defined]
    assert sys.get_coroutine_origin_tracking_depth() == depth
    assert gc.isenabled() == enabled


def test_legacy_unawaited_setter_scenario_is_reported_as_unawaited_not_as_a_race() -> None:
    scenario = load_scenario(UNAWAITED_SCENARIO)
    assert scenario.expect == "unawaited"
    result = scenario.explore()
    kinds = {failure.kind for failure in result.failures}
    assert kinds == {"unawaited"}, [f.describe() for f in result.failures]
    failure = result.failures[0]
    assert "coroutine 'UserAgentSession.set_websocket_manager' was never awaited" in failure.message
    assert "workloads.py:" in failure.message and "wire_without_await()" in failure.message
    verdict, matches, _ = cli.expectation(scenario, result, promised=True)
    assert (verdict, matches) == ("unawaited coroutine found", True)
    assert scenario.replay(failure.token).failure is not None


def test_the_same_workload_awaited_is_not_unawaited() -> None:
    scenario = load_scenario(UNAWAITED_SCENARIO)
    awaited, _ = build("legacy", {**scenario.workload_dict, "unawaited_wiring": False})
    result = sim.explore(awaited, strategy="dpor", max_schedules=50)
    assert "unawaited" not in {failure.kind for failure in result.failures}


def test_racesim_explore_of_the_unawaited_scenario_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from sim.cli import main; sys.exit(main())",
            "explore",
            str(UNAWAITED_SCENARIO),
            "--report-dir",
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unawaited coroutine found" in done.stdout


def test_unawaited_scenario_with_another_expected_kind_is_refused(tmp_path: Path) -> None:
    text = UNAWAITED_SCENARIO.read_text().replace(
        "[expect_failure]\n", '[expect_failure]\nkinds = ["assertion"]\n'
    )
    path = tmp_path / "wrong.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"\[expect_failure\] kinds: .*'unawaited'"):
        load_scenario(path)


def test_unawaited_wiring_on_the_remediated_registry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "remediated.toml"
    path.write_text(UNAWAITED_SCENARIO.read_text().replace('"legacy"', '"remediated"'))
    with pytest.raises(ScenarioError, match="unawaited_wiring"):
        load_scenario(path)


# -- racesim inside a running trio loop -------------------------------------------------------------


async def test_explore_inside_a_running_trio_loop_is_a_usage_error() -> None:
    with pytest.raises(
        InsideTrioRun, match=r"call sim\.explore / sim\.replay from synchronous code"
    ):
        sim.explore(awaits_everything, strategy="dfs")


async def test_replay_inside_a_running_trio_loop_is_a_usage_error() -> None:
    token = sim.Schedule(()).encode(fingerprint_of(awaits_everything))
    with pytest.raises(InsideTrioRun, match="inside a running trio loop"):
        sim.replay(awaits_everything, token)
