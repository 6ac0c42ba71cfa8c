"""Minimise a failing schedule: fewest preemptions first, then fewest decisions.

A preemption (switching away from a task that could have continued) is what a human has to
understand in a concurrency bug, and most bugs need one or two (Musuvathi and Qadeer, *Iterative
context bounding*, PLDI 2007). A failure found by a randomised strategy typically carries dozens.
The shrinker works in two passes, each run of a candidate schedule costing one execution:

1. **Greedy deletion** (like Hypothesis's shrinker deleting choices): a candidate replaces one
   preemption by "keep running the task that ran last", or cuts the schedule after a preemption
   so that everything later runs without preemptions. Other choices are kept *by task name*
   (indices shift when a task blocks or spawns earlier; names do not). Repeated to a fixpoint.
2. **Proof by bounded search** (CHESS's iterative context bounding, run in reverse): with ``p``
   preemptions left, enumerate every schedule with at most ``b`` preemptions for ``b = 0, 1, ...,
   p - 1`` (``dfs`` with a preemption bound, "keep running" tried first). The first one that fails
   the same way is smaller; when a bound's space is exhausted without one, no failing schedule
   with that few preemptions exists, so the result is *minimal*, not merely smaller.

A candidate is accepted when it fails with the same failure kind (and, for order failures, the
same violated rule) and is strictly smaller in ``(preemptions, decisions)``. The budget bounds the
total runs; shrinking never changes the verdict: if nothing smaller fails the same way within it,
the original failure is reported as found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._run import run_once
from .strategies._protocol import BaseStrategy
from .strategies.dfs import DfsStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from ._explore import Failure
    from ._order import Order
    from ._schedule import Schedule
    from .strategies._protocol import Choice, Strategy


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


def _deletions(names: list[str | None]) -> list[list[str | None]]:
    preemptions = [i for i, name in enumerate(names) if name is not None]
    removed = [[*names[:i], None, *names[i + 1 :]] for i in preemptions]
    return removed + [names[: i + 1] for i in preemptions]


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

    def attempt(strategy: Strategy) -> Failure | None:
        """Run once; the failure when it is the same kind and smaller than the best so far."""
        nonlocal runs
        runs += 1
        outcome = run_once(
            scenario,
            strategy,
            seed=failure.seed or 0,
            mode=failure.schedule.mode,
            max_steps=max_steps,
            explore_time=failure.schedule.explore_time,
        )
        strategy.execution_finished(outcome.trace, outcome.schedule)
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

    def greedy() -> None:
        nonlocal best
        improved = True
        while improved and runs < budget:
            improved = False
            for candidate in _deletions(_names(best.schedule)):
                if runs >= budget:
                    return
                strategy = GuidedStrategy(candidate)
                strategy.new_execution()
                smaller = attempt(strategy)
                if smaller is not None:
                    best, improved = smaller, True
                    break

    greedy()
    bound = 0
    while bound < best.schedule.preemptions and runs < budget:
        search = DfsStrategy(preemption_bound=bound)
        while runs < budget and search.new_execution():
            smaller = attempt(search)
            if smaller is not None:
                best = smaller
                greedy()  # now shorten it
                break
        bound += 1
    if best is not failure:
        best = attrs.evolve(best, shrunk_from=_size(failure.schedule))
    return best
