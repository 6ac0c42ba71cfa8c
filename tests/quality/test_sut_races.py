"""racesim finds every race of the seed's system in its scenario, replays it, and finds nothing in
the remediated system — with the scenario files' own default settings."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import sim
from sim._scenario import Scenario, discover, load_reported
from sim._schedule import decode

if TYPE_CHECKING:
    from sim import Failure

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = discover([ROOT / "scenarios"])
RACES = [s for s in SCENARIOS if s.expect == "race"]
CLEAN = [s for s in SCENARIOS if s.expect == "clean"]
REPORTED = sorted((ROOT / "scenarios" / "reported").glob("*.toml"))

#: The known races are shallow: each is found within this many schedules of its default search.
FOUND_WITHIN = 100


def by_name(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


@functools.cache
def expected_failure(scenario: Scenario) -> Failure:
    assert scenario.expect_failure is not None, f"{scenario.name} has no [expect_failure]"
    result = scenario.explore()
    matching = [f for f in result.failures if scenario.expect_failure.matches(f)]
    assert matching, (
        f"{scenario.name}: expected {scenario.expect_failure.describe()}, got "
        + "; ".join(f"[{f.kind}] {f.message}" for f in result.failures)
    )
    return matching[0]


def test_every_seed_race_has_a_scenario() -> None:
    assert {s.name for s in RACES} >= {
        "legacy_agent_before_propagation",
        "legacy_manager_set_bridge_not_yet",
        "legacy_propagation_vs_new_session",
        "legacy_concurrent_creation",
        "legacy_shared_dispatcher_leak",
        "shipped_tool_events_dropped",
        "shipped_reconnect_replay_reorder",
    }
    assert len(CLEAN) >= 2


@pytest.mark.parametrize("scenario", RACES, ids=lambda s: s.name)
def test_race_scenario_fails_as_expected_and_replays(scenario: Scenario) -> None:
    failure = expected_failure(scenario)
    assert failure.found_at < FOUND_WITHIN
    assert failure.token.startswith(f"rs2.{scenario.fingerprint}.")
    replayed = scenario.replay(failure.token).failure
    assert replayed is not None, f"{scenario.name}: token {failure.token} replayed clean"
    assert replayed.kind == failure.kind
    assert replayed.message == failure.message


def test_shipped_names_both_dropped_tool_events() -> None:
    message = expected_failure(by_name("shipped_tool_events_dropped")).message
    assert (
        "run u1-r0 (user u1): tool_executing, tool_completed emitted but never delivered "
        "(dropped: tool dispatcher has no websocket bridge)"
    ) in message


def test_shipped_loses_the_tool_events_on_every_schedule() -> None:
    scenario = by_name("shipped_tool_events_dropped")
    fn, _ = scenario.build()

    async def tool_events_arrive() -> None:
        try:
            await fn()
        except AssertionError as error:
            if "tool_executing, tool_completed emitted but never delivered" in str(error):
                return
            raise
        raise AssertionError("tool_executing and tool_completed were delivered")

    result = sim.explore(tool_events_arrive, strategy="dfs", preemption_bound=2, races=False)
    assert result.exhausted
    assert result.failures == []


def test_leak_names_the_owner_and_the_receiver() -> None:
    message = expected_failure(by_name("legacy_shared_dispatcher_leak")).message
    assert "of run u2-r0 (user u2) delivered to user u1" in message


@pytest.mark.parametrize("scenario", CLEAN, ids=lambda s: s.name)
def test_clean_scenario_is_exhausted_without_failure(scenario: Scenario) -> None:
    result = scenario.explore()
    assert [f.describe() for f in result.failures] == []
    # a sampled smoke scenario (loopback TCP) runs its budget; every other one is exhausted
    sampled = scenario.explore_settings.strategy in ("random", "pct", "pos")
    assert result.exhausted is not sampled
    assert result.schedules_run > 1


def test_reported_races_reproduce_in_a_fresh_process() -> None:
    assert len(REPORTED) == len(RACES)
    program = textwrap.dedent(
        """
        import json, sys
        from sim._scenario import load_reported
        out = {}
        for path in sys.argv[1:]:
            reported = load_reported(path)
            found = reported.reproduce()
            replayed = reported.scenario.replay(reported.token).failure
            out[path] = {
                "token": found.token if found else None,
                "replayed_kind": replayed.kind if replayed else None,
                "replayed_contains": bool(replayed)
                and reported.message_contains in replayed.message,
            }
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run(
        [sys.executable, "-c", program, *map(str, REPORTED)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for path in REPORTED:
        reported = load_reported(path)
        outcome = results[str(path)]
        found = outcome["token"] and decode(outcome["token"])  # rs2 now; reported may be rs1
        assert found == decode(reported.token), f"{path.name}: found another failure"
        assert outcome["replayed_kind"] == reported.kind, f"{path.name}: replay differs"
        assert outcome["replayed_contains"], f"{path.name}: replayed message differs"
