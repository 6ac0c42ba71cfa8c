"""Checkpoints: an exploration cut into resumed pieces is the uninterrupted one — the same schedules
in the same order, the same failures with the same tokens — for dfs, dpor and the samplers."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
import trio

import sim
from sim import _checkpoint

if TYPE_CHECKING:
    from pathlib import Path


@sim.tracked
class Box:
    def __init__(self) -> None:
        self.value = 0
        self.seen: list[int] = []


#: Every step every run takes, across every exploration of :func:`three_way` (the reference).
LOG: list[str] = []


async def three_way() -> None:
    """Three tasks, two of which race on a read-modify-write; the third takes a lock: several
    distinct failures (assertion, data race) and a few hundred interleavings."""
    box = Box()
    lock = trio.Lock()

    async def bump(name: str) -> None:
        LOG.append(f"{name}:read")
        seen = box.value
        await trio.sleep(0)
        LOG.append(f"{name}:write")
        box.value = seen + 1

    async def audit() -> None:
        async with lock:
            LOG.append("audit")
            await trio.sleep(0)
            box.seen.append(box.value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bump, "a")
        nursery.start_soon(bump, "b")
        nursery.start_soon(audit)
    if box.value != 2:  # not a rewritten assert: its message would show the object's address
        raise AssertionError(f"lost update: {box.value}")


def _explore(strategy: str, budget: int, checkpoint: Path | None = None) -> sim.Result:
    return sim.explore(
        three_way,
        strategy=strategy,
        max_schedules=budget,
        max_failures=50,
        seed=7,
        checkpoint=checkpoint,
    )


def _summary(result: sim.Result) -> tuple[object, ...]:
    failures = [(f.kind, f.message, f.token, f.found_at, f.seed) for f in result.failures]
    return (
        result.schedules_run,
        result.exit_reason,
        result.exhausted,
        result.first_failure_at,
        result.distinct_orders,
        failures,
    )


@pytest.mark.parametrize("strategy", ["dfs", "dpor", "random", "pct", "pos"])
def test_exploration_interrupted_at_five_random_points_equals_the_uninterrupted_one(
    strategy: str, tmp_path: Path
) -> None:
    budget = 60
    LOG.clear()
    whole = _explore(strategy, budget)
    reference_log = list(LOG)
    assert whole.failures, "the model must fail, or the comparison proves little"

    cuts = sorted(random.Random(f"cuts-{strategy}").sample(range(1, whole.schedules_run), 5))
    LOG.clear()
    file = tmp_path / "explore.ckpt"
    pieces = [_explore(strategy, cut, file) for cut in cuts]
    final = _explore(strategy, budget, file)

    assert [piece.schedules_run for piece in pieces] == cuts
    assert _summary(final) == _summary(whole)
    assert reference_log == LOG  # the same runs, step by step, in the same order


def test_resuming_an_exhausted_exploration_runs_nothing_more(tmp_path: Path) -> None:
    file = tmp_path / "done.ckpt"
    first = _explore("dpor", 10_000, file)
    assert first.exhausted
    LOG.clear()
    again = _explore("dpor", 10_000, file)
    assert LOG == []
    assert _summary(again) == _summary(first)


def test_an_interrupt_between_checkpoints_loses_only_the_work_since_the_last_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_checkpoint, "SAVE_EVERY", 0.0)  # save before every schedule
    LOG.clear()
    whole = _explore("dfs", 10_000)
    file = tmp_path / "ctrl-c.ckpt"
    stop_at = 37

    def interrupt(schedules: int, failures: int) -> None:
        if schedules == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sim.explore(
            three_way,
            strategy="dfs",
            max_schedules=10_000,
            max_failures=50,
            seed=7,
            checkpoint=file,
            on_progress=interrupt,
        )
    resumed = _explore("dfs", 10_000, file)
    assert _summary(resumed) == _summary(whole)


def test_a_checkpoint_of_another_exploration_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "other.ckpt"
    _explore("random", 5, file)
    with pytest.raises(_checkpoint.CheckpointMismatch, match="belongs to another exploration"):
        sim.explore(three_way, strategy="random", max_schedules=10, seed=8, checkpoint=file)
    file.write_bytes(b"not a pickle")
    with pytest.raises(_checkpoint.CheckpointMismatch, match="not a racesim checkpoint"):
        _explore("random", 5, file)
