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

**Long schedules.** Greedy deletion needs at least one run per deleted choice, and a round that
finds nothing costs two runs per choice: fine for the handful a systematic strategy leaves, hopeless
for the thousands ``random`` leaves on a long run (a runaway loop of 20,000 steps carries ~10,000).
A schedule with more than :data:`LONG_SCHEDULE` choices by name therefore first goes through delta
debugging (Zeller and Hildebrandt, *Simplifying and isolating failure-inducing input*, TSE 2002):
keep only the first ``k`` choices for ``k = 0, 1, 2, 4, ...`` and bisect between the last ``k``
that did not fail and the first that did (``O(log n)`` runs), then clear halves, quarters, ... of
the choices left until at most :data:`LONG_SCHEDULE` remain or no preemption does. A schedule
still long without preemptions is kept as it is (the greedy pass could only shorten it, at up to
two runs per choice). Shorter schedules skip all this, so their results are exactly those of the
two passes above.

**Candidates share structure.** A candidate is the best schedule's choices seen through an edit —
keep the first ``n`` decisions, let a range of them continue the last task — which
:class:`GuidedStrategy` reads through; the choices are never copied per candidate. (Building every
candidate as a list cost ``O(choices x decisions)`` memory: 2.4 GB on that runaway loop.)

A candidate is accepted when it fails with the same failure kind (and, for order failures, the
same violated rule) and is strictly smaller in ``(preemptions, decisions)``. The budget bounds the
total runs; shrinking never changes the verdict: if nothing smaller fails the same way within it,
the original failure is reported as found. The caller passes how to judge a run and what makes two
failures "the same way", so this module depends on the engine (``run_once``) and nothing above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ._run import run_once
from .strategies._protocol import BaseStrategy
from .strategies.dfs import DfsStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

    from ._explore import Failure
    from ._run import Outcome
    from ._schedule import Schedule
    from .strategies._protocol import Choice, Strategy

    #: ``(kind, message, details, verdicts, races)`` of a failing run, as ``_explore.judge`` says.
    Judged = tuple[str, str, str, tuple[Any, ...], tuple[Any, ...]]

#: Schedules with more choices by name than this are cut down by delta debugging before the
#: greedy pass (whose rounds cost up to two runs per choice).
LONG_SCHEDULE = 32


class GuidedStrategy(BaseStrategy):
    """Choose the named task at each decision when runnable, else continue the last one.

    ``names`` is shared, never copied: decisions from ``length`` on, and those in ``cleared``, read
    as "continue the last task" (``None``)."""

    name = "shrink"

    def __init__(
        self,
        names: Sequence[str | None],
        *,
        length: int | None = None,
        cleared: range = range(0),
    ) -> None:
        self.names = names
        self.length = len(names) if length is None else min(length, len(names))
        self.cleared = cleared
        self._position = 0

    def new_execution(self) -> bool:
        self._position = 0
        return True

    def choose(self, choice: Choice) -> int:
        position = self._position
        self._position += 1
        wanted = (
            None if position >= self.length or position in self.cleared else self.names[position]
        )
        if wanted is not None and wanted in choice.names:
            return choice.names.index(wanted)
        return choice.previous if choice.previous is not None else 0


@attrs.frozen
class _Edit:
    """A candidate as an edit of the best schedule's choices: keep the first ``length`` decisions;
    those in ``cleared`` continue the last task."""

    length: int
    cleared: range = range(0)

    def strategy(self, names: Sequence[str | None]) -> GuidedStrategy:
        return GuidedStrategy(names, length=self.length, cleared=self.cleared)


def _size(schedule: Schedule) -> tuple[int, int]:
    return (schedule.preemptions, len(schedule))


def _names(schedule: Schedule) -> list[str | None]:
    """Decisions by task name; ``None`` where the task that ran last simply continued."""
    return [None if d.index == d.previous else d.task for d in schedule.decisions]


def _chosen(names: Sequence[str | None]) -> list[int]:
    """The positions of the choices by name (the decisions that did not just continue)."""
    return [i for i, name in enumerate(names) if name is not None]


def _deletions(names: Sequence[str | None]) -> Iterator[_Edit]:
    """The greedy pass's candidates, in order: each choice replaced by "continue", then the
    schedule cut after each choice."""
    chosen = _chosen(names)
    for i in chosen:
        yield _Edit(len(names), range(i, i + 1))
    for i in chosen:
        yield _Edit(i + 1)


def shrink_failure(
    scenario: Callable[[], Awaitable[None]],
    failure: Failure,
    *,
    judge: Callable[[Outcome], Judged | None],
    same_way: Callable[[str, tuple[Any, ...]], object],
    fingerprint: str,
    budget: int,
    max_steps: int,
) -> Failure:
    """The smallest failing variant of ``failure`` found within ``budget`` runs. ``judge`` says
    whether a run fails; two failures fail the same way when ``same_way(kind, verdicts)`` agree."""
    target = same_way(failure.kind, failure.verdicts)
    best = failure
    runs = 0

    def attempt(strategy: Strategy) -> bool:
        """Run once; True (and ``best`` replaced) when it fails the same way and is smaller."""
        nonlocal runs, best
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
        verdict = judge(outcome)
        if verdict is None:
            return False
        kind, message, details, bad, found = verdict
        if same_way(kind, bad) != target or _size(outcome.schedule) >= _size(best.schedule):
            return False
        best = attrs.evolve(
            best,
            message=message,
            details=details,
            token=outcome.schedule.encode(fingerprint),
            schedule=outcome.schedule,
            trace=outcome.trace,
            verdicts=bad,
            races=found,
        )
        return True

    def guided(edit: _Edit, names: Sequence[str | None]) -> bool:
        strategy = edit.strategy(names)
        strategy.new_execution()
        return attempt(strategy)

    def cut_tail() -> None:
        """Keep the first ``k`` choices for ``k = 0, 1, 2, 4, ...``, then bisect."""
        names = _names(best.schedule)
        chosen = _chosen(names)

        def keep(k: int) -> _Edit:
            return _Edit(0 if k == 0 else chosen[k - 1] + 1)

        failed, k = -1, 0
        while k < len(chosen) and runs < budget:
            if guided(keep(k), names):
                break
            failed, k = k, max(1, 2 * k)
        else:
            return
        while k - failed > 1 and runs < budget:
            middle = (failed + k) // 2
            if guided(keep(middle), names):
                k = middle
            else:
                failed = middle

    def clear_chunks() -> None:
        """Let halves, quarters, ... of the choices continue instead, until few are left."""
        size = len(_chosen(_names(best.schedule))) // 2
        while size >= 1 and runs < budget:
            names = _names(best.schedule)
            chosen = _chosen(names)
            if len(chosen) <= LONG_SCHEDULE or best.schedule.preemptions == 0:
                return
            size = min(size, len(chosen) // 2)
            for start in range(0, len(chosen), size):
                if runs >= budget:
                    return
                last = chosen[min(start + size, len(chosen)) - 1]
                if guided(_Edit(len(names), range(chosen[start], last + 1)), names):
                    break
            else:
                size //= 2

    def greedy() -> None:
        improved = True
        while improved and runs < budget:
            improved = False
            names = _names(best.schedule)
            for candidate in _deletions(names):
                if runs >= budget:
                    return
                if guided(candidate, names):
                    improved = True
                    break

    if len(_chosen(_names(best.schedule))) > LONG_SCHEDULE:
        cut_tail()
        clear_chunks()
    if best.schedule.preemptions > 0 or len(_chosen(_names(best.schedule))) <= LONG_SCHEDULE:
        greedy()  # (on a long schedule without preemptions it could only shorten, run by run)
    bound = 0
    while bound < best.schedule.preemptions and runs < budget:
        search = DfsStrategy(preemption_bound=bound)
        while runs < budget and search.new_execution():
            if attempt(search):
                greedy()  # now shorten it
                break
        bound += 1
    if best is not failure:
        best = attrs.evolve(best, shrunk_from=_size(failure.schedule))
    return best
