"""Shrinking: failures are reported with the fewest preemptions that still fail the same way."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

import sim
import sim._shrink as shrinking
from sim._shrink import LONG_SCHEDULE

from models import Counter, lost_update, workers

NOISE_TASKS = 3


async def noisy_lost_update() -> None:
    """The lost update (one preemption suffices) among tasks that only pass checkpoints, so a
    random schedule that shows it carries many unrelated preemptions."""
    counter = Counter()

    async def increment() -> None:
        seen = counter.value
        await trio.sleep(0)
        counter.value = seen + 1

    async def noise() -> None:
        for _ in range(8):
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        for _ in range(NOISE_TASKS):
            nursery.start_soon(noise)
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert counter.value == 2, f"lost update: counter is {counter.value}, expected 2"


@sim.tracked
class Box:
    def __init__(self) -> None:
        self.value = 0


async def needs_two_preemptions() -> None:
    """``observer`` must see the half-way value and then the final one: ``writer`` has to be
    preempted once and ``observer`` once — no schedule with fewer preemptions fails."""
    box = Box()
    seen: list[int] = []

    async def writer() -> None:
        box.value = 1
        await trio.sleep(0)
        box.value = 2

    async def observer() -> None:
        seen.append(box.value)
        await trio.sleep(0)
        seen.append(box.value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        nursery.start_soon(observer)
    assert seen != [1, 2], "observer saw the write happen"


def explore_randomly(scenario, **kwargs) -> sim.Result:
    return sim.explore(scenario, strategy="random", races=False, max_schedules=500, **kwargs)


@pytest.mark.parametrize("seed", range(5))
def test_a_random_failure_with_many_preemptions_is_shrunk_to_exactly_one(seed: int) -> None:
    unshrunk = explore_randomly(noisy_lost_update, seed=seed, shrink=False).failures[0]
    assert unshrunk.schedule.preemptions >= 5
    failure = explore_randomly(noisy_lost_update, seed=seed).failures[0]
    assert failure.kind == unshrunk.kind == "assertion"
    assert failure.schedule.preemptions == 1
    assert failure.shrunk_from is not None
    assert f"{unshrunk.schedule.preemptions} preemptions -> 1" in failure.shrink_summary()
    assert failure.shrink_summary() in failure.describe()
    replayed = sim.replay(noisy_lost_update, failure.token, races=False).failure
    assert replayed is not None
    assert replayed.kind == "assertion"
    assert replayed.schedule == failure.schedule


@pytest.mark.parametrize("seed", range(3))
def test_a_failure_needing_two_preemptions_is_shrunk_to_two(seed: int) -> None:
    failure = explore_randomly(needs_two_preemptions, seed=seed).failures[0]
    assert failure.schedule.preemptions == 2
    assert sim.replay(needs_two_preemptions, failure.token, races=False).failure is not None


def test_no_schedule_with_fewer_preemptions_fails_than_the_shrunk_one() -> None:
    failure = explore_randomly(needs_two_preemptions, seed=0).failures[0]
    bounded = sim.explore(
        needs_two_preemptions, strategy="dfs", preemption_bound=1, races=False, max_schedules=10_000
    )
    assert bounded.exhausted
    assert bounded.ok
    assert failure.schedule.preemptions == 2


def test_shrinking_keeps_the_violated_rule_of_an_order_failure() -> None:
    async def notes() -> None:
        async def first() -> None:
            for _ in range(4):
                await trio.sleep(0)
            sim.note("a")

        async def second() -> None:
            await trio.sleep(0)
            sim.note("b")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            nursery.start_soon(second)

    order = sim.Order.edge("a", "b")
    failure = sim.explore(notes, strategy="random", requires=order, seed=3).failures[0]
    assert failure.kind == "order"
    assert failure.verdicts[0].rule == "a -> b"
    replayed = sim.replay(notes, failure.token, requires=order).failure
    assert replayed is not None
    assert replayed.verdicts[0].rule == "a -> b"


def test_a_failure_that_is_already_minimal_is_reported_as_found() -> None:
    found = sim.explore(lost_update, strategy="dfs", races=False, shrink=False).failures[0]
    failure = sim.explore(lost_update, strategy="dfs", races=False).failures[0]
    assert found.schedule.preemptions == failure.schedule.preemptions == 1
    assert failure.schedule == found.schedule
    assert failure.shrunk_from is None
    assert failure.shrink_summary() == ""


def test_a_zero_shrink_budget_reports_the_failure_unshrunk(monkeypatch) -> None:
    monkeypatch.setenv("RACESIM_SHRINK_RUNS", "0")
    failure = explore_randomly(noisy_lost_update, seed=0).failures[0]
    assert failure.shrunk_from is None
    assert failure.schedule.preemptions >= 5


def test_a_small_shrink_budget_never_changes_the_verdict(monkeypatch) -> None:
    monkeypatch.setenv("RACESIM_SHRINK_RUNS", "3")
    failure = explore_randomly(noisy_lost_update, seed=0).failures[0]
    assert failure.kind == "assertion"
    assert sim.replay(noisy_lost_update, failure.token, races=False).failure is not None


# -- long schedules --------------------------------------------------------------------------------
def count_runs(monkeypatch) -> list[int]:
    """Count the runs the shrinker makes (one list item per run)."""
    runs: list[int] = []
    original = shrinking.run_once

    def counted(*args, **kwargs):
        runs.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(shrinking, "run_once", counted)
    return runs


def test_a_runaway_loop_found_at_random_is_shrunk_in_a_few_runs(monkeypatch) -> None:
    runs = count_runs(monkeypatch)
    failure = sim.explore(
        workers(2, 2000), strategy="random", races=False, max_schedules=1, max_steps=1000
    ).failures[0]
    assert failure.kind == "livelock"
    assert failure.shrunk_from is not None
    assert failure.shrunk_from[0] > 10 * LONG_SCHEDULE  # the greedy pass alone: a run each
    assert failure.schedule.preemptions == 0
    assert len(runs) <= 10


async def long_noisy_lost_update() -> None:
    """The lost update among noise tasks that pass many checkpoints after it: a random schedule
    that shows it carries far more choices than the greedy pass can afford to delete one by one."""
    counter = Counter()

    async def increment() -> None:
        seen = counter.value
        await trio.sleep(0)
        counter.value = seen + 1

    async def noise() -> None:
        for _ in range(40):
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        for _ in range(NOISE_TASKS):
            nursery.start_soon(noise)
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert counter.value == 2, f"lost update: counter is {counter.value}, expected 2"


@pytest.mark.parametrize("seed", range(3))
def test_a_long_random_failure_is_cut_down_and_shrunk_to_one_preemption(seed: int) -> None:
    unshrunk = explore_randomly(long_noisy_lost_update, seed=seed, shrink=False).failures[0]
    choices = [d for d in unshrunk.schedule.decisions if d.index != d.previous]
    assert len(choices) > LONG_SCHEDULE
    failure = explore_randomly(long_noisy_lost_update, seed=seed).failures[0]
    assert failure.kind == "assertion"
    assert failure.schedule.preemptions == 1
    replayed = sim.replay(long_noisy_lost_update, failure.token, races=False).failure
    assert replayed is not None
    assert replayed.schedule == failure.schedule


def reference_deletions(names: list[str | None]) -> list[list[str | None]]:
    """The greedy pass's candidates as copies of the choices (how they were built before)."""
    preemptions = [i for i, name in enumerate(names) if name is not None]
    removed = [[*names[:i], None, *names[i + 1 :]] for i in preemptions]
    return removed + [names[: i + 1] for i in preemptions]


@given(st.lists(st.sampled_from([None, None, "a", "b"]), max_size=12))
def test_candidates_read_through_the_shared_choices_like_copies_would(
    names: list[str | None],
) -> None:
    edits = list(shrinking._deletions(names))
    expected = reference_deletions(names)
    assert len(edits) == len(expected)
    for edit, copy in zip(edits, expected, strict=True):
        strategy = edit.strategy(names)
        assert strategy.names is names
        seen = [
            None if i >= strategy.length or i in strategy.cleared else names[i]
            for i in range(len(names) + 2)
        ]
        assert seen == [*copy, *[None] * (len(names) + 2 - len(copy))]
