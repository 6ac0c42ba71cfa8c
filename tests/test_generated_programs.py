"""Generated programs (tests/programs.py) against independent references.

1. ``dpor`` reaches exactly the outcomes exhaustive ``dfs`` reaches — (final state, failure) for
   every schedule — on at least 300 programs mixing tracked, untracked, global and closure state
   with trio's primitives, with automatic footprints when racesim has them (issue 11).
2. Instrumentation never changes meaning: a program run with instrumentation and the same program
   without it, under the same schedule, end in the same state with the same failure.
"""

from __future__ import annotations

import collections
import inspect
import pickle
from typing import TYPE_CHECKING

import pytest

import sim
from sim._run import run_once
from sim.strategies import DfsStrategy, DporStrategy, RandomStrategy, ReplayDivergence

from programs import (
    DEFAULT_FEATURES,
    Knobs,
    Program,
    automatic_footprints,
    generate,
    outcomes,
    replay_program,
)

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

    from sim._schedule import Schedule

    from programs import Outcomes

#: programs compared per property (dfs must exhaust within DFS_LIMIT schedules to count)
COMPARED = 300
DFS_LIMIT = 2000


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated_programs")


def _describe(program: Program, expected: Outcomes, found: Outcomes) -> str:
    missing = sorted(map(repr, expected.reached - found.reached))[:3]
    extra = sorted(map(repr, found.reached - expected.reached))[:3]
    return (
        f"seed {program.seed} ({', '.join(sorted(program.features))}): dfs reached "
        f"{len(expected.reached)} outcomes in {expected.runs} schedules, dpor "
        f"{len(found.reached)} in {found.runs}; dpor missed {missing}"
        + (f", dpor alone reached {extra}" if extra else "")
    )


def _dpor_matches_dfs(directory: Path, knobs: Knobs, wanted: int, **run: object) -> None:
    mismatches: list[tuple[Program, str]] = []
    compared = skipped = seed = 0
    while compared < wanted:
        program = generate(seed, knobs)
        seed += 1
        module = program.load(directory)
        args = {**automatic_footprints(module), **run}
        expected = outcomes(module, DfsStrategy(), limit=DFS_LIMIT, **args)
        if not expected.exhausted:
            skipped += 1
            continue
        compared += 1
        found = outcomes(module, DporStrategy(), limit=DFS_LIMIT, **args)
        assert found.exhausted
        if found.reached != expected.reached:
            mismatches.append((program, _describe(program, expected, found)))
    assert skipped <= wanted // 10, f"{skipped} programs exceeded {DFS_LIMIT} dfs schedules"
    if mismatches:
        pytest.fail(_report("dpor missed outcomes", compared, mismatches))


def _report(what: str, total: int, found: list[tuple[Program, str]]) -> str:
    """The failure message: how many, which features they use, the first few, the smallest."""
    tally = collections.Counter(f for program, _ in found for f in program.features)
    smallest = min((program for program, _ in found), key=lambda program: len(program.source))
    return (
        f"{what} on {len(found)} of {total} programs; features of those programs: "
        + ", ".join(f"{feature} {count}" for feature, count in tally.most_common())
        + "\n"
        + "\n".join(line for _, line in found[:10])
        + f"\n\nthe smallest (seed {smallest.seed}):\n{smallest.source}"
    )


def test_dpor_reaches_every_outcome_dfs_reaches_on_generated_programs(directory: Path) -> None:
    _dpor_matches_dfs(directory, Knobs(), COMPARED)


def test_dpor_reaches_every_outcome_dfs_reaches_with_timers_and_deadlocks(
    directory: Path,
) -> None:
    knobs = Knobs(timers=True, deadlocks=True, max_interleavings=200)
    _dpor_matches_dfs(directory, knobs, 60, explore_time=True)


# -- instrumentation on and off ----------------------------------------------------------------------

#: programs and schedules per program for the on/off comparison
ON_OFF_PROGRAMS = 100
ON_OFF_SCHEDULES = 6


def _observe(module: ModuleType, schedule: Schedule, **run: object) -> tuple[object, ...]:
    """What a run shows: end state, failure kind and message, and the order the tasks ran in."""
    snapshot, _, outcome = replay_program(module, schedule, **run)
    return (snapshot, outcome.kind, outcome.message, outcome.trace.order())


@pytest.mark.parametrize("mechanism", ["tracked", "tracked+automatic"])
def test_instrumentation_never_changes_what_a_program_does(directory: Path, mechanism: str) -> None:
    """The same seed with and without ``@sim.tracked`` (and, for ``tracked+automatic``, with
    automatic footprints on the instrumented copy only) under the same schedules: same end state,
    same failure. The schedules are drawn at random on the uninstrumented copy."""
    if mechanism == "tracked+automatic":
        assert "instrument" in inspect.signature(run_once).parameters, (
            "run_once has no instrument= argument yet (issue 11: automatic footprints)"
        )
    differences: list[tuple[Program, str]] = []
    for seed in range(ON_OFF_PROGRAMS):
        plain = generate(seed, Knobs(decorate=False)).load(directory, "off")
        program = generate(seed, Knobs(decorate=True))
        instrumented = program.load(directory, "on")
        on_args = automatic_footprints(instrumented) if mechanism == "tracked+automatic" else {}
        schedules = outcomes(
            plain, RandomStrategy(seed=seed), limit=ON_OFF_SCHEDULES, keep_schedules=True
        ).schedules
        for schedule in schedules:
            off = _observe(plain, schedule)
            try:
                on = _observe(instrumented, schedule, **on_args)
            except ReplayDivergence as error:
                on = ("diverged", str(error))
            if on != off:
                differences.append(
                    (
                        program,
                        f"seed {seed} ({', '.join(sorted(program.features))}): "
                        f"without instrumentation {off!r}, with it {on!r}",
                    )
                )
                break
    if differences:
        pytest.fail(_report("instrumentation changed the outcome", ON_OFF_PROGRAMS, differences))


@sim.tracked
class Holder:
    def __init__(self) -> None:
        self.items: object = None


@pytest.mark.parametrize(
    "container", [[1], {"k": 1}, {1}, collections.deque([1])], ids=lambda c: type(c).__name__
)
def test_a_container_assigned_to_a_tracked_attribute_is_the_same_object(container: object) -> None:
    """The minimal case of the property above (issue 11: no copies, no wrappers)."""
    holder = Holder()
    holder.items = container
    assert holder.items is container
    assert type(holder.items) is type(container)
    assert repr(holder.items) == repr(container)
    assert type(pickle.loads(pickle.dumps(holder.items))) is type(container)


# -- the generator itself ------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_program_and_decorate_only_adds_decorators() -> None:
    for seed in range(50):
        program = generate(seed)
        assert program.source == generate(seed).source
        bare = generate(seed, Knobs(decorate=False)).source
        assert bare == program.source.replace("@sim.tracked\n", "")


def test_generated_programs_use_every_feature_and_reach_every_kind_of_outcome(
    directory: Path,
) -> None:
    used: set[str] = set()
    for seed in range(COMPARED):
        used |= generate(seed).features
    assert used == set(DEFAULT_FEATURES)

    def kinds(knobs: Knobs) -> set[object]:
        found: set[object] = set()
        for seed in range(25):
            module = generate(seed, knobs).load(directory)
            reached = outcomes(module, DfsStrategy(), limit=25).reached
            found |= {failure[0] if failure else None for _, failure in reached}  # type: ignore[index]
        return found

    # waits have deadlines unless the deadlocks knob drops some
    assert kinds(Knobs()) == {None, "assertion", "exception"}
    waits = frozenset({"tracked", "event", "condition"})
    assert kinds(Knobs(features=waits, deadlocks=True)) == {
        None,
        "assertion",
        "exception",
        "deadlock",
    }


def test_a_schedule_decides_the_outcome_whatever_trio_s_own_seed(directory: Path) -> None:
    """The reference is only a reference if a program is a function of its schedule."""
    for seed in range(60):
        module = generate(seed).load(directory)
        found = outcomes(module, RandomStrategy(seed=seed), limit=4, keep_schedules=True)
        for schedule in found.schedules:
            runs = {_observe(module, schedule, seed=trio_seed) for trio_seed in (0, 1, 7)}
            assert len(runs) == 1, f"seed {seed}: {runs}"


def test_unknown_features_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown program features"):
        Knobs(features=frozenset({"tracked", "telepathy"}))
