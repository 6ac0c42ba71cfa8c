"""Exploration and replay: determinism across runs and processes, tokens, divergence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import sim

from models import locked_update, lost_update, workers

#: pure-checkpoint workers share nothing, on purpose
NOTHING_SHARED = sim.HealthCheck.nothing_shared

TESTS = Path(__file__).parent


def test_lost_update_is_found_by_dfs_with_a_replayable_token() -> None:
    result = sim.explore(lost_update, strategy="dfs", races=False)
    assert result.exit_reason is sim.ExitReason.FAILURE_LIMIT
    (failure,) = result.failures
    assert failure.kind == "assertion"
    assert "lost update: counter is 1" in failure.message
    assert failure.token.startswith("rs1.")
    run = sim.replay(lost_update, failure.token, races=False)
    assert run.failure is not None
    assert run.failure.kind == failure.kind
    assert run.failure.message == failure.message
    assert run.trace == failure.trace


def test_locked_update_is_clean_and_exhausted() -> None:
    result = sim.explore(locked_update, strategy="dfs")
    assert result.failures == []
    assert result.exhausted is True


def test_token_replays_identically_in_a_fresh_process_with_another_hash_seed() -> None:
    failure = sim.explore(lost_update, strategy="dfs", races=False).failures[0]
    code = (
        "import json, sim, models\n"
        f"run = sim.replay(models.lost_update, {failure.token!r}, races=False)\n"
        "print(json.dumps([run.failure.kind, run.failure.message, list(run.trace.order()),"
        " [s.location for s in run.trace.steps]]))\n"
    )
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            check=False,
            cwd=TESTS,
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        kind, message, order, locations = json.loads(out.stdout)
        assert kind == failure.kind
        assert message == failure.message
        assert order == list(failure.trace.order())
        assert locations == [step.location for step in failure.trace.steps]


def test_random_with_the_same_seed_gives_identical_traces() -> None:
    def traces(seed: int) -> list[tuple[str, ...]]:
        seen: list[tuple[str, ...]] = []

        class Recording(sim.strategies.RandomStrategy):  # type: ignore[name-defined]
            def execution_finished(self, trace, schedule):  # type: ignore[no-untyped-def]
                seen.append(trace.order())

        sim.explore(
            workers(3, 3),
            strategy=Recording(seed),
            max_schedules=25,
            races=False,
            suppress_health_check=[NOTHING_SHARED],
        )
        return seen

    first, second, other = traces(7), traces(7), traces(8)
    assert first == second
    assert first != other
    assert len(set(first)) > 5


def test_random_failure_seed_reproduces_that_execution_first() -> None:
    result = sim.explore(lost_update, strategy="random", seed=11, max_schedules=200, races=False)
    failure = result.failures[0]
    assert failure.seed is not None
    again = sim.explore(
        lost_update,
        strategy="random",
        seed=failure.seed,
        max_schedules=1,
        suppress_health_check=[sim.HealthCheck.tiny_budget],
        races=False,
        shrink=False,
    )
    assert again.first_failure_at == 0
    assert again.failures[0].message == failure.message


def test_replay_against_a_changed_scenario_never_passes_silently() -> None:
    failure = sim.explore(lost_update, strategy="dfs", races=False).failures[0]

    async def changed() -> None:
        async def only() -> None:
            await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(only)

    changed.__racesim_fingerprint__ = sim._explore.fingerprint_of(lost_update)  # type: ignore[attr-defined]
    with pytest.raises(sim.ReplayDivergence, match="explore again"):
        sim.replay(changed, failure.token)

    async def renamed() -> None:
        await lost_update()

    with pytest.raises(sim.TokenMismatch):
        sim.replay(renamed, failure.token)


def test_fingerprint_follows_the_source_of_the_scenario() -> None:
    a = sim._explore.fingerprint_of(lost_update)
    assert a == sim._explore.fingerprint_of(lost_update)
    assert a != sim._explore.fingerprint_of(locked_update)


def test_unknown_strategy_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown strategy 'bogus'; valid strategies: .*dfs"):
        sim.explore(lost_update, strategy="bogus")


def test_max_schedules_stops_with_its_exit_reason() -> None:
    result = sim.explore(
        workers(3, 2),
        strategy="dfs",
        max_schedules=10,
        races=False,
        suppress_health_check=[NOTHING_SHARED],
    )
    assert result.schedules_run == 10
    assert result.exhausted is False
    assert result.exit_reason is sim.ExitReason.MAX_SCHEDULES
    assert "budget" in result.exit_reason.describe()


def test_environment_overrides_the_schedule_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACESIM_MAX_SCHEDULES", "3")
    result = sim.explore(
        workers(3, 2), strategy="dfs", races=False, suppress_health_check=[NOTHING_SHARED]
    )
    assert result.schedules_run == 3


def test_distinct_orders_memory_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim._explore, "DISTINCT_ORDERS_TRACKED", 25)
    result = sim.explore(
        workers(3, 2),
        strategy="dfs",
        max_schedules=100,
        races=False,
        suppress_health_check=[NOTHING_SHARED],
    )
    assert result.schedules_run == 100
    assert result.distinct_orders == 25
