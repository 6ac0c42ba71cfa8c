"""Minimise a failing schedule: fewest preemptions first, then fewest decisions.

A preemption (switching away from a task that could have continued) is what a human has to
understand in a concurrency bug, so the shrinker removes them one at a time, like CHESS's
preemption-bounded search does in reverse and like Hypothesis's shrinker deletes choices: a
candidate schedule replaces one preemption with "keep running the task that ran last" and keeps the
other choices *by task name* (indices shift when a task blocks or spawns earlier; names do not).
A candidate is accepted when it fails with the same failure kind (and, for order failures, the same
violated rule) and is strictly smaller in (preemptions, decisions). Then it tries cutting the
schedule after each preemption, letting the rest run without preemptions. Each candidate is one run;
the budget bounds the total. Shrinking never changes the verdict: if nothing smaller fails the same
way, the original failure is reported as found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ._run import run_once
from .strategies._protocol import BaseStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from ._explore import Failure
    from ._order import Order
    from ._schedule import Schedule
    from .strategies._protocol import Choice


class GuidedStrategy(BaseStrategy):
    """Choose the named task at each decision when runnable, else continue the last one."""

    name = "shrink"

    def __init__(self, names: Sequence[str | None]) -> None:
        self.names = list(names)
        self._position = 0

    def new_execution(self) -> bool:
        self._position = 0
        return True

    def choose(self, choice: Choice) -> int:
        position = self._position
        self._position += 1
        wanted = self.names[position] if position < len(self.names) else None
        if wanted is not None and wanted in choice.names:
            return choice.names.index(wanted)
        return choice.previous if choice.previous is not None else 0


def _size(schedule: Schedule) -> tuple[int, int]:
    return (schedule.preemptions, len(schedule))


def _names(schedule: Schedule) -> list[str | None]:
    """Decisions by task name; ``None`` where the task that ran last simply continued."""
    return [None if d.index == d.previous else d.task for d in schedule.decisions]


def shrink_failure(
    scenario: Callable[[], Awaitable[None]],
    failure: Failure,
    *,
    requires: Order | None,
    races: bool,
    fingerprint: str,
    budget: int,
    max_steps: int,
) -> Failure:
    """The smallest failing variant of ``failure`` found within ``budget`` runs."""
    from ._explore import _failure_key, judge

    target = _failure_key(failure.kind, failure.verdicts)
    best = failure
    runs = 0
    original = _size(failure.schedule)

    def attempt(names: Sequence[str | None]) -> Failure | None:
        nonlocal runs
        runs += 1
        strategy = GuidedStrategy(names)
        strategy.new_execution()
        outcome = run_once(
            scenario,
            strategy,
            seed=failure.seed or 0,
            mode=failure.schedule.mode,
            max_steps=max_steps,
            explore_time=failure.schedule.explore_time,
        )
        verdict = judge(outcome, requires, races)
        if verdict is None:
            return None
        kind, message, details, bad, found = verdict
        if _failure_key(kind, bad) != target or _size(outcome.schedule) >= _size(best.schedule):
            return None
        return attrs.evolve(
            best,
            message=message,
            details=details,
            token=outcome.schedule.encode(fingerprint),
            schedule=outcome.schedule,
            trace=outcome.trace,
            verdicts=bad,
            races=found,
        )

    improved = True
    while improved and runs < budget:
        improved = False
        names = _names(best.schedule)
        candidates: list[list[Any]] = []
        preemptions = [i for i, name in enumerate(names) if name is not None]
        for i in preemptions:
            candidates.append([*names[:i], None, *names[i + 1 :]])
        for i in preemptions:
            candidates.append(names[: i + 1])
        for candidate in candidates:
            if runs >= budget:
                break
            smaller = attempt(candidate)
            if smaller is not None:
                best = smaller
                improved = True
                break
    if best is not failure:
        best = attrs.evolve(best, shrunk_from=original)
    return best
