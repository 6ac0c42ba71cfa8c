"""Automatic footprints: plain code needs no decorator, unseen code is dependent, nothing changes.

The reference for "racesim found the bug" is the bug itself: each scenario fails under plain
``trio.run`` for some interleaving, and ``dfs`` (no reduction) reaches it; ``dpor`` must too.
"""

from __future__ import annotations

import collections
import pickle
import warnings

import pytest
import trio

import sim

from footprint_fixtures import hidden, shared


class Counter:  # deliberately not @sim.tracked
    def __init__(self) -> None:
        self.value = 0


async def lost_update_on_an_attribute() -> None:
    counter = Counter()

    async def increment() -> None:
        seen = counter.value
        await trio.sleep(0)
        counter.value = seen + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert counter.value == 2, f"lost update: {counter.value}"


CACHE: dict[str, int] = {}


async def lost_update_in_a_module_dict() -> None:
    CACHE.clear()
    CACHE["n"] = 0

    async def increment() -> None:
        seen = CACHE["n"]
        await trio.sleep(0)
        CACHE["n"] = seen + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert CACHE["n"] == 2, f"lost update: {CACHE['n']}"


async def lost_update_in_a_closure() -> None:
    count = 0

    async def increment() -> None:
        nonlocal count
        seen = count
        await trio.sleep(0)
        count = seen + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert count == 2, f"lost update: {count}"


TOTAL = 0


async def lost_update_in_a_global() -> None:
    global TOTAL
    TOTAL = 0

    async def increment() -> None:
        global TOTAL
        seen = TOTAL
        await trio.sleep(0)
        TOTAL = seen + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert TOTAL == 2, f"lost update: {TOTAL}"


LOST_UPDATES = [
    lost_update_on_an_attribute,
    lost_update_in_a_module_dict,
    lost_update_in_a_closure,
    lost_update_in_a_global,
]


def _bug_is_real(scenario) -> None:
    """The independent reference: exhaustive dfs reaches the lost update."""
    result = sim.explore(scenario, strategy="dfs", races=False, max_failures=1)
    assert result.failures and "lost update: 1" in result.failures[0].message


@pytest.mark.parametrize("scenario", LOST_UPDATES, ids=lambda f: f.__name__)
def test_lost_update_without_decorator_fails_under_the_default_strategy(scenario) -> None:
    _bug_is_real(scenario)
    result = sim.explore(scenario)  # dpor, races reported: the user's assertion comes first
    assert result.strategy.startswith("dpor")
    assert [f.kind for f in result.failures] == ["assertion"]
    failure = result.failures[0]
    assert "lost update: 1" in failure.message
    run = sim.replay(scenario, failure.token)
    assert run.failure is not None and run.failure.kind == "assertion"
    assert run.failure.message.startswith("AssertionError: lost update: 1")
    assert run.trace == failure.trace


def test_aliasing_program_passes_under_every_strategy() -> None:
    @sim.tracked
    class Owner:
        def __init__(self) -> None:
            self.delivered: list[int] = []
            self.bridge: list[int] | None = None

    async def scenario() -> None:
        owner = Owner()
        owner.bridge = owner.delivered
        assert owner.bridge is owner.delivered

        async def send(value: int) -> None:
            assert owner.bridge is not None
            owner.bridge.append(value)
            await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, 1)
            nursery.start_soon(send, 2)
        assert sorted(owner.delivered) == [1, 2], owner.delivered

    for strategy in ("dpor", "dfs", "random", "pct", "pos"):
        result = sim.explore(scenario, strategy=strategy, max_schedules=50)
        assert result.ok, (strategy, [f.describe() for f in result.failures])


def test_tracked_attributes_keep_identity_equality_type_and_pickling() -> None:
    @sim.tracked
    class Holder:
        def __init__(self) -> None:
            self.items: list[int] = []

    holder = Holder()
    values = [1, 2]
    table = {"a": 1}
    queue = collections.deque([1], maxlen=3)
    holder.items = values
    holder.table = table
    holder.queue = queue
    assert holder.items is values and holder.table is table and holder.queue is queue
    assert type(holder.items) is list and type(holder.queue) is collections.deque
    assert pickle.loads(pickle.dumps(holder.queue)) == queue
    holder.items.append(3)
    assert values == [1, 2, 3] and repr(holder.items) == "[1, 2, 3]"


def test_tracked_class_defaults_and_slots_are_footprints() -> None:
    @sim.tracked
    class Flags:
        ready = False

    @sim.tracked
    class Slotted:
        __slots__ = ("value",)

        def __init__(self) -> None:
            self.value = 0

    async def scenario() -> None:
        flags, slotted = Flags(), Slotted()
        seen: list[tuple[bool, int]] = []

        async def reader() -> None:
            seen.append((flags.ready, slotted.value))

        async def writer() -> None:
            flags.ready = True
            slotted.value = 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            nursery.start_soon(writer)
        assert seen != [(False, 0)], "the reader ran first"

    for strategy in ("dfs", "dpor"):
        result = sim.explore(scenario, strategy=strategy, races=False)
        assert [f.kind for f in result.failures] == ["assertion"], strategy


async def lost_update_through_hidden_code() -> None:
    box = hidden.Box()

    async def increment() -> None:
        seen = hidden.read(box)
        await trio.sleep(0)
        hidden.write(box, seen + 1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(increment)
        nursery.start_soon(increment)
    assert box.value == 2, f"lost update: {box.value}"


def test_code_racesim_cannot_see_is_dependent_and_said_so() -> None:
    _bug_is_real(lost_update_through_hidden_code)
    result = sim.explore(lost_update_through_hidden_code, races=False)
    assert [f.kind for f in result.failures] == ["assertion"]
    assert "lost update: 1" in result.failures[0].message
    assert result.unseen_steps > 0
    assert any("cannot see (" in note and "read() at hidden.py:" in note for note in result.notes)


def test_a_clean_dpor_verdict_over_unseen_code_is_a_health_check() -> None:
    async def scenario() -> None:
        box = hidden.Box()

        async def task() -> None:
            hidden.write(box, hidden.read(box) + 1)
            await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(task)
            nursery.start_soon(task)

    with pytest.warns(sim.HealthCheckWarning, match="cannot see"):
        result = sim.explore(scenario)
    assert result.exhausted and result.health == (sim.HealthCheck.unseen_code,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = sim.explore(scenario, suppress_health_check=[sim.HealthCheck.unseen_code])
    assert quiet.exhausted and quiet.health == () and quiet.unseen_steps > 0


def test_instrumenting_a_named_module_makes_its_globals_visible() -> None:
    async def scenario() -> None:
        shared.TOTAL = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(shared.bump)
            nursery.start_soon(shared.bump)
        assert shared.TOTAL == 2, f"lost update: {shared.TOTAL}"

    result = sim.explore(scenario, instrument=["footprint_fixtures.shared"], races=False)
    assert [f.kind for f in result.failures] == ["assertion"]
    assert result.unseen_steps == 0, result.notes
    assert sim.replay(scenario, result.failures[0].token, instrument=["footprint_fixtures.shared"])


def test_nothing_shared_is_a_health_check_and_can_be_silenced() -> None:
    async def scenario() -> None:
        async def alone() -> None:
            local = [1]
            await trio.sleep(0)
            local.append(2)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(alone)
            nursery.start_soon(alone)

    with pytest.warns(sim.HealthCheckWarning, match="no two of them ever touched the same object"):
        sim.explore(scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.explore(scenario, suppress_health_check=[sim.HealthCheck.nothing_shared])


def test_tasks_that_never_checkpoint_are_a_health_check_and_can_be_silenced() -> None:
    async def scenario() -> None:
        values: list[int] = []

        async def quick(value: int) -> None:
            values.append(value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(quick, 1)
            nursery.start_soon(quick, 2)

    with pytest.warns(sim.HealthCheckWarning, match="without reaching a checkpoint"):
        sim.explore(scenario, strategy="dfs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.explore(scenario, strategy="dfs", suppress_health_check=[sim.HealthCheck.no_checkpoint])


def test_a_budget_of_one_schedule_is_a_health_check_and_can_be_silenced() -> None:
    with pytest.warns(sim.HealthCheckWarning, match="after 1 schedule"):
        sim.explore(
            lost_update_on_an_attribute, strategy="random", max_schedules=1, seed=5, races=False
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.explore(
            lost_update_on_an_attribute,
            strategy="random",
            max_schedules=1,
            seed=5,
            races=False,
            suppress_health_check=[sim.HealthCheck.tiny_budget],
        )
