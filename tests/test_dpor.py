"""DPOR: sound against dfs on generated programs, never more schedules, and its own invariants."""

from __future__ import annotations

import math

import attrs
import pytest
import sync_programs
import trio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sim
from sim._explore import judge
from sim._run import run_once
from sim.strategies import DfsStrategy, DporStrategy

from models import abba, locked_update, lost_update

# -- generated programs ----------------------------------------------------------------------------


@sim.tracked
class Cell:
    def __init__(self) -> None:
        self.value = 0


@attrs.frozen
class Program:
    """Tasks of ops on tracked cells; every op may end its step with a checkpoint."""

    cells: int
    tasks: tuple[tuple[tuple[object, ...], ...], ...]
    forbidden: int | None  #: the final value of cell 0 the program asserts against

    def scenario(self, finals: list[object]):
        async def scenario() -> None:
            cells = [Cell() for _ in range(self.cells)]
            lock, event = trio.Lock(), trio.Event()
            logs: list[list[int]] = [[] for _ in self.tasks]

            async def task(number: int) -> None:
                log = logs[number]
                seen = 0
                for op, cell, value, checkpoint in self.tasks[number]:
                    target = cells[cell]  # type: ignore[index]
                    if op == "read":
                        seen = target.value
                        log.append(seen)
                    elif op == "write":
                        target.value = value
                    elif op == "add":
                        target.value = seen + 1
                    elif op == "locked":
                        async with lock:
                            seen = target.value
                            await trio.sleep(0)
                            target.value = seen + 1
                    elif op == "set":
                        event.set()
                    elif op == "set_if":
                        if target.value == value:
                            event.set()
                    elif op == "fail_if":
                        if target.value == value:
                            raise ValueError(f"cell is {value}")
                    elif op == "wait":
                        await event.wait()
                    elif op == "note":
                        sim.note("ab"[value % 2])  # type: ignore[index,operator]
                    if checkpoint:
                        await trio.sleep(0)

            async with trio.open_nursery() as nursery:
                for number in range(len(self.tasks)):
                    nursery.start_soon(task, number, name=f"t{number}")
            finals.append((tuple(c.value for c in cells), tuple(map(tuple, logs))))
            if self.forbidden is not None:
                assert cells[0].value != self.forbidden, f"cell 0 is {self.forbidden}"

        scenario.__racesim_fingerprint__ = "generated"  # type: ignore[attr-defined]
        return scenario


@st.composite
def programs(draw: st.DrawFn, max_ops: int = 6) -> Program:
    cells = draw(st.integers(1, 3))
    cell = st.integers(0, cells - 1)
    op = st.tuples(
        st.sampled_from(
            [
                "read",
                "write",
                "add",
                "read",
                "write",
                "locked",
                "set",
                "set_if",
                "wait",
                "note",
                "fail_if",
            ]
        ),
        cell,
        st.integers(0, 2),
        st.booleans(),
    )
    count = draw(st.integers(2, 4))
    budget = draw(st.integers(count, max_ops))
    sizes = [1] * count
    for _ in range(budget - count):
        index = draw(st.integers(0, count - 1))
        sizes[index] = min(4, sizes[index] + 1)
    tasks = tuple(tuple(draw(op) for _ in range(size)) for size in sizes)
    # Keep dfs cheap: a task takes about one step per checkpoint and two per locked op.
    steps = [1 + sum(o[3] + 2 * (o[0] == "locked") for o in ops) for ops in tasks]
    assume(math.factorial(sum(steps)) // math.prod(map(math.factorial, steps)) <= 400)
    forbidden = draw(st.none() | st.integers(0, 3))
    return Program(cells, tasks, forbidden)


ORDER = sim.Order.edge("a", "b")


def outcomes(
    program: Program, strategy, limit: int = 500, mode: str = "free"
) -> tuple[set[object], int, bool]:
    """Every distinct (final state, verdict) the strategy reaches, the runs, and exhaustion."""
    finals: list[object] = []
    scenario = program.scenario(finals)
    seen: set[object] = set()
    runs = 0
    while runs < limit and strategy.new_execution():
        finals.clear()
        outcome = run_once(scenario, strategy, mode=mode)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        runs += 1
        verdict = judge(outcome, ORDER, True)
        detail: object = None
        if verdict is not None:
            kind, message, _, bad, races = verdict
            trace = outcome.trace
            if kind == "order":
                detail = frozenset((v.rule, v.status) for v in bad)
            elif kind == "race":  # a group's witness pair depends on the linearisation
                detail = frozenset(
                    (
                        r.first.key,
                        frozenset(trace.steps[s].location for s in (r.first_step, r.second_step)),
                        r.count,
                    )
                    for r in races
                )
            elif kind != "assertion":  # the assertion's text shows object ids; finals[0] says it
                detail = message
            detail = (kind, detail)
        seen.add((finals[0] if finals else None, detail))
    return seen, runs, bool(getattr(strategy, "exhausted", False))


GENERATED = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@settings(GENERATED, max_examples=250)
@given(program=programs())
def test_dpor_reaches_every_outcome_dfs_reaches_with_no_more_schedules(program: Program) -> None:
    expected, dfs_runs, dfs_done = outcomes(program, DfsStrategy())
    assume(dfs_done)
    found, dpor_runs, dpor_done = outcomes(program, DporStrategy())
    assert dpor_done
    assert found == expected
    assert dpor_runs <= dfs_runs


@settings(GENERATED, max_examples=80)
@given(program=programs(), bound=st.integers(0, 1))
def test_bounded_dpor_reaches_every_outcome_bounded_dfs_reaches(
    program: Program, bound: int
) -> None:
    expected, _, dfs_done = outcomes(program, DfsStrategy(preemption_bound=bound))
    assume(dfs_done)
    found, _, dpor_done = outcomes(program, DporStrategy(preemption_bound=bound))
    assert dpor_done
    assert found == expected


@settings(GENERATED, max_examples=60)
@given(program=programs())
def test_dpor_reaches_every_outcome_dfs_reaches_in_batch_mode(program: Program) -> None:
    expected, _, dfs_done = outcomes(program, DfsStrategy(), mode="batch")
    assume(dfs_done)
    found, _, dpor_done = outcomes(program, DporStrategy(), mode="batch")
    assert dpor_done
    assert found == expected


# -- hand-written cases ------------------------------------------------------------------------------


def test_dpor_is_the_default_strategy_and_finds_the_lost_update() -> None:
    result = sim.explore(lost_update, races=False)
    assert result.strategy.startswith("dpor")
    assert [f.kind for f in result.failures] == ["assertion"]
    assert sim.replay(lost_update, result.failures[0].token, races=False).failure is not None


def test_dpor_exhausts_a_correctly_locked_update_without_failures() -> None:
    result = sim.explore(locked_update)
    assert result.ok
    assert result.exhausted
    assert result.exit_reason is sim.ExitReason.EXHAUSTED


def test_dpor_finds_the_lock_order_deadlock() -> None:
    result = sim.explore(abba, races=False)
    assert [f.kind for f in result.failures] == ["deadlock"]


def timers(finals: list[object]):
    async def scenario() -> None:
        cell, event = Cell(), trio.Event()

        async def sleeper() -> None:
            await trio.sleep(1)
            cell.value = cell.value * 10 + 1
            event.set()

        async def waiter() -> None:
            with trio.move_on_after(0.5):
                await event.wait()
            cell.value = cell.value * 10 + 2

        async def writer() -> None:
            await trio.sleep(0)
            cell.value = cell.value * 10 + 3
            await trio.sleep(2)
            cell.value = cell.value * 10 + 4

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper)
            nursery.start_soon(waiter)
            nursery.start_soon(writer)
        finals.append(cell.value)

    return scenario


@pytest.mark.parametrize("explore_time", [False, True])
def test_dpor_reaches_every_timing_outcome_dfs_reaches(explore_time: bool) -> None:
    reached = {}
    for strategy in (DfsStrategy(), DporStrategy()):
        finals: list[object] = []
        scenario = timers(finals)
        while strategy.new_execution():
            outcome = run_once(scenario, strategy, explore_time=explore_time)
            strategy.execution_finished(outcome.trace, outcome.schedule)
        reached[strategy.name] = set(finals)
    assert reached["dpor"] == reached["dfs"]
    assert len(reached["dfs"]) == (12 if explore_time else 1)


async def failing_sibling() -> None:
    cell = Cell()

    async def fails() -> None:
        await trio.sleep(0)
        raise ValueError("boom")

    async def asserts() -> None:
        await trio.sleep(0)
        cell.value = 1
        await trio.sleep(0)
        raise AssertionError("reached the end")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fails)
        nursery.start_soon(asserts)


def test_a_failing_task_does_not_commute_with_the_siblings_it_cancels() -> None:
    kinds = {}
    for strategy in (DfsStrategy(), DporStrategy()):
        seen = set()
        while strategy.new_execution():
            outcome = run_once(failing_sibling, strategy)
            strategy.execution_finished(outcome.trace, outcome.schedule)
            seen.add(outcome.kind)
        kinds[strategy.name] = seen
    assert kinds["dpor"] == kinds["dfs"] == {"exception", "assertion"}


def test_dpor_explorations_are_deterministic() -> None:
    def orders() -> list[tuple[str, ...]]:
        strategy = DporStrategy()
        seen = []
        while strategy.new_execution():
            outcome = run_once(lost_update, strategy)
            strategy.execution_finished(outcome.trace, outcome.schedule)
            seen.append(outcome.trace.order())
        return seen

    first = orders()
    assert first == orders()
    assert len(first) == len(set(first)) == 4


def test_bounded_dpor_runs_only_schedules_within_the_bound() -> None:
    for bound in (0, 1, 2):
        strategy = DporStrategy(preemption_bound=bound)
        while strategy.new_execution():
            outcome = run_once(locked_update, strategy)
            strategy.execution_finished(outcome.trace, outcome.schedule)
            assert outcome.schedule.preemptions <= bound
    result = sim.explore(lost_update, preemption_bound=1, races=False)
    assert result.strategy == "dpor (preemption bound 1)"
    assert [f.kind for f in result.failures] == ["assertion"]


def test_a_negative_preemption_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="preemption_bound must be >= 0"):
        DporStrategy(preemption_bound=-1)


# -- soundness with time, preemption bounds and every sync primitive (issue 13) ----------------------


def two_sleepers(finals: list[object]):
    async def scenario() -> None:
        log = Cell()
        log.value = ()

        async def sleeper(name: str) -> None:
            await trio.sleep(1)
            log.value = (*log.value, (name, trio.current_time()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper, "a")
            nursery.start_soon(sleeper, "b")
        finals.append(log.value)

    return scenario


def reached(scenario_of, strategy, **options) -> tuple[set[object], bool]:
    finals: list[object] = []
    scenario = scenario_of(finals)
    kinds = set()
    while strategy.new_execution():
        outcome = run_once(scenario, strategy, **options)
        strategy.execution_finished(outcome.trace, outcome.schedule)
        kinds.add(outcome.kind)
    return set(finals) | kinds, strategy.exhausted


def test_with_explore_time_the_clock_advance_races_with_the_steps_it_reorders() -> None:
    expected, _ = reached(two_sleepers, DfsStrategy(), explore_time=True)
    assert (("b", 1.0), ("a", 2.0)) in expected
    assert reached(two_sleepers, DporStrategy(), explore_time=True) == (expected, True)


def semaphore_and_condition(finals: list[object]):
    """Three tasks update a shared value under a Semaphore(2), one waits on a Condition for the
    others; the final value shows which updates were lost."""

    async def scenario() -> None:
        cell, semaphore, condition = Cell(), trio.Semaphore(2), trio.Condition()

        async def updater(amount: int) -> None:
            async with semaphore:
                seen = cell.value
                await trio.sleep(0)
                cell.value = seen + amount
            async with condition:
                condition.notify_all()

        async def reader() -> None:
            async with condition:
                await condition.wait()
            seen = cell.value
            await trio.sleep(0)
            cell.value = seen + 100

        async with trio.open_nursery() as nursery:
            nursery.start_soon(updater, 1)
            nursery.start_soon(updater, 10)
            with trio.move_on_after(1):
                await reader()
        finals.append(cell.value)

    return scenario


@pytest.mark.parametrize("bound", [1, 2])
def test_bounded_dpor_reaches_every_outcome_bounded_dfs_reaches_with_semaphore_and_condition(
    bound: int,
) -> None:
    expected, done = reached(semaphore_and_condition, DfsStrategy(preemption_bound=bound))
    assert done and len(expected) > 2
    found = reached(semaphore_and_condition, DporStrategy(preemption_bound=bound))
    assert found == (expected, True)


#: Program i is checked with explore_time = i % 2 and preemption bound CONFIGS[i // 2 % 5].
CONFIGS = (None, 0, 1, 2, 3)


@pytest.mark.parametrize("chunk", range(10))
def test_dpor_reaches_every_outcome_dfs_reaches_on_generated_sync_programs(chunk: int) -> None:
    """30 programs per chunk, 300 in all, over locks, semaphores, conditions, events, channels,
    cancel scopes and timers; those dfs cannot exhaust in 100 runs are replaced by the next seed."""
    checked, seed = 0, chunk * 1000
    while checked < 30:
        program = sync_programs.program(seed)
        explore_time, bound = bool(seed % 2), CONFIGS[seed // 2 % 5]
        seed += 1
        expected, _, dfs_done = sync_programs.outcomes(
            program, DfsStrategy(preemption_bound=bound), limit=100, explore_time=explore_time
        )
        if not dfs_done:
            continue
        found, _, dpor_done = sync_programs.outcomes(
            program, DporStrategy(preemption_bound=bound), limit=3000, explore_time=explore_time
        )
        assert dpor_done, (seed - 1, program)
        assert found == expected, (seed - 1, program)
        checked += 1
