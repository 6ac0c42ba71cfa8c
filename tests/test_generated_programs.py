"""Generated programs (tests/programs.py) against independent references.

1. ``dpor`` reaches exactly the outcomes exhaustive ``dfs`` reaches — (final state, failure) for
   every schedule — on at least 300 programs mixing tracked, untracked, global and closure state
   with trio's primitives, with automatic footprints when racesim has them (issue 11).
2. Instrumentation never changes meaning: a program run with instrumentation and the same program
   without it, under the same schedule, end in the same state with the same failure.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import pytest

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
    mismatches: list[tuple[int, str, Program]] = []
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
            mismatches.append((len(program.source), _describe(program, expected, found), program))
    assert skipped <= wanted // 10, f"{skipped} programs exceeded {DFS_LIMIT} dfs schedules"
    if mismatches:
        smallest = min(mismatches, key=lambda item: item[0])[2]
        lines = [item[1] for item in mismatches]
        raise AssertionError(
            f"dpor missed outcomes on {len(mismatches)} of {compared} programs:\n"
            + "\n".join(lines)
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


@pytest.mark.parametrize("mechanism", ["tracked", "tracked+automatic"])
def test_instrumentation_never_changes_what_a_program_does(directory: Path, mechanism: str) -> None:
    """The same seed with and without ``@sim.tracked`` (and, for ``tracked+automatic``, with
    automatic footprints on the instrumented copy only) under the same schedules: same end state,
    same failure. The schedules are drawn at random on the uninstrumented copy."""
    if mechanism == "tracked+automatic":
        assert "instrument" in inspect.signature(run_once).parameters, (
            "run_once has no instrument= argument yet (issue 11: automatic footprints)"
        )
    differences: list[str] = []
    for seed in range(ON_OFF_PROGRAMS):
        plain = generate(seed, Knobs(decorate=False)).load(directory, "off")
        program = generate(seed, Knobs(decorate=True))
        instrumented = program.load(directory, "on")
        on_args = automatic_footprints(instrumented) if mechanism == "tracked+automatic" else {}
        schedules = outcomes(
            plain, RandomStrategy(seed=seed), limit=ON_OFF_SCHEDULES, keep_schedules=True
        ).schedules
        for schedule in schedules:
            off = replay_program(plain, schedule)
            try:
                on = replay_program(instrumented, schedule, **on_args)
            except ReplayDivergence as error:
                on = ("diverged", str(error))
            if on != off:
                differences.append(
                    f"seed {seed} ({', '.join(sorted(program.features))}): "
                    f"without instrumentation {off!r}, with it {on!r}"
                )
                break
    assert not differences, (
        f"instrumentation changed the outcome of {len(differences)} of {ON_OFF_PROGRAMS} "
        "programs:\n" + "\n".join(differences)
    )


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
    kinds: set[object] = set()
    waits = frozenset({"tracked", "event", "condition"})
    for knobs in (Knobs(), Knobs(features=waits, deadlocks=True)):
        for seed in range(25):
            module = generate(seed, knobs).load(directory)
            reached = outcomes(module, DfsStrategy(), limit=25).reached
            kinds |= {failure[0] if failure else None for _, failure in reached}  # type: ignore[index]
    assert kinds == {None, "assertion", "exception", "deadlock"}


def test_unknown_features_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown program features"):
        Knobs(features=frozenset({"tracked", "telepathy"}))
