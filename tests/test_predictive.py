"""Happens-before checks inside exploration: one run predicts what another interleaving would do."""

from __future__ import annotations

import trio

import sim


async def luck_ordered() -> None:
    """``b`` follows ``a`` unless ``main`` is preempted right after spawning ``second``."""

    async def second() -> None:
        sim.note("b")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.sleep(0)
        sim.note("a")


async def event_ordered() -> None:
    done = trio.Event()

    async def second() -> None:
        await done.wait()
        sim.note("b")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.sleep(0)
        sim.note("a")
        done.set()


def observed_order(scenario) -> set[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    seen: set[tuple[str, ...]] = set()

    class Collect(sim.strategies.DfsStrategy):  # type: ignore[name-defined]
        def execution_finished(self, trace, schedule):  # type: ignore[no-untyped-def]
            seen.add(tuple(note.label for note in trace.notes))
            super().execution_finished(trace, schedule)

    strategy = Collect(preemption_bound=0)
    result = sim.explore(scenario, strategy=strategy, races=False, max_schedules=1000)
    assert result.exhausted
    return seen


def test_bad_order_never_shows_without_preemption() -> None:
    assert observed_order(luck_ordered) == {("a", "b")}


def test_order_held_by_luck_is_reported_on_the_first_run() -> None:
    result = sim.explore(
        luck_ordered,
        strategy="dfs",
        preemption_bound=0,
        requires=sim.Order.edge("a", "b"),
        races=False,
        shrink=False,
    )
    assert result.first_failure_at == 0
    (failure,) = result.failures
    assert failure.kind == "order"
    assert [note.label for note in failure.trace.notes] == ["a", "b"]  # it did not go wrong here
    (verdict,) = failure.verdicts
    assert verdict.status == "unordered"
    assert "no synchronisation connects them" in verdict.explanation
    assert "main" in verdict.explanation and "second" in verdict.explanation
    replayed = sim.replay(luck_ordered, failure.token, requires=sim.Order.edge("a", "b"))
    assert replayed.failure is not None and replayed.failure.kind == "order"


def test_the_same_order_through_an_event_is_ordered_in_every_schedule() -> None:
    result = sim.explore(
        event_ordered, strategy="dfs", requires=sim.Order.edge("a", "b"), max_schedules=1000
    )
    assert result.failures == []
    assert result.exhausted


def test_a_lost_event_is_missing() -> None:
    async def lost() -> None:
        sim.note("a")

    failure = sim.explore(lost, strategy="dfs", requires=sim.Order.edge("a", "b")).failures[0]
    assert failure.kind == "order"
    assert failure.verdicts[0].status == "missing"
    assert "b" in failure.verdicts[0].explanation


def test_an_inverted_order_is_inverted() -> None:
    async def backwards() -> None:
        sim.note("b")
        await trio.sleep(0)
        sim.note("a")

    failure = sim.explore(backwards, strategy="dfs", requires=sim.Order.edge("a", "b")).failures[0]
    assert failure.kind == "order"
    assert failure.verdicts[0].status == "inverted"
