"""Counterfactual root cause: which ordering of the failing run, reversed, makes the failure go away.

A failure's trace says *what* happened; a reader wants *which ordering* made it happen. Following
the counterfactual definition of cause (Lewis 1973; Zeller's *cause-effect chains* and the delta
debugging of thread schedules, Choi & Zeller 2002), an ordering ``a`` before ``b`` of two steps is
a cause when the same run with only that ordering reversed does not fail that way. So for the
shrunk failure:

1. the candidate orderings are the pairs of steps of different tasks whose accesses conflict (one
   writes what the other touches) and that nothing in between already orders: for each access of
   a step, the latest earlier conflicting access of another task — plus the steps the failure's
   own explanation names (its order verdicts), first;
2. each candidate is reversed on its own: the run follows the recorded step order, except that the
   later task's steps from ``a`` up to ``b`` go just before ``a`` (:class:`FollowOrder`); a run
   in which ``b`` does not end up before ``a`` (the task was blocked there) does not count;
3. the causes are the reversals after which the run no longer fails this way — it passes, or
   (said so) fails another way, a second bug the first one hid; the smallest such set is one ordering,
   so each is reported on its own, as one sentence — the earliest per pair of tasks and shared
   object, as later conflicts on it follow from that one — with the re-runs it all took.

A data race is already a statement about an ordering (two unordered conflicting accesses: either
order can happen), so its cause is the racing pair itself, found without re-runs. When no single
reversal helps — the failure happens in every order tried, as a bug in wiring rather than in
timing does — the result says exactly that, which is a finding too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .strategies._protocol import BaseStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._explore import Failure
    from ._order import Order
    from ._trace import Access, Trace
    from .strategies._protocol import Choice

#: The most re-runs one failure's root cause may take.
CAUSE_RUNS = 60


@attrs.frozen
class Cause:
    """An ordering of two steps that the failure needs: ``first`` ran before ``second``."""

    first: int  #: seq of the step that ran first in the failing run
    second: int
    first_task: str
    second_task: str
    first_site: str  #: where the first step stopped
    second_site: str
    access: str  #: what the first step did to the shared state ("writes Registry#1.manager")
    other: str  #: what the second did to it
    verified: bool  #: True: reversing it made the failure disappear (False: a data race's pair)
    instead: str = ""  #: the other failure the reversed run showed ("" when it passed)

    def describe(self) -> str:
        first = f"{self.first_task!r} ({self.first_site}, {self.access})"
        second = f"{self.second_task!r} ({self.second_site}, {self.other})"
        if not self.verified:
            return f"{first} and {second} are not ordered: either can run first"
        head = f"fails when {first} runs before {second}"
        if self.instead:
            return (
                head + "; with only that order reversed this failure disappears, but the run "
                f"fails another way ({self.instead})"
            )
        return head + "; with only that order reversed, the run passes"


@attrs.frozen
class RootCause:
    """The causes of one failure and what finding them took."""

    causes: tuple[Cause, ...]
    runs: int  #: re-runs it took
    tried: int  #: orderings reversed
    changed: int = 0  #: of the causes, reversals after which the run failed another way

    def describe(self) -> str:
        runs = f"{self.runs} re-run{'s' if self.runs != 1 else ''}"
        if not self.causes:
            if not self.tried:
                return (
                    f"root cause: the run has no ordering of conflicting steps to reverse ({runs})"
                )
            other = f", {self.changed} of them into another failure" if self.changed else ""
            return (
                f"root cause: no single ordering — no run passes when any one of the "
                f"{self.tried} orderings of conflicting steps is reversed{other} ({runs}): the "
                "failure does not depend on timing alone"
            )
        if self.runs == 0:
            head = "root cause (the racing pair):"
        else:
            head = (
                f"root cause ({runs}; {self.tried} orderings of conflicting steps reversed, one "
                "at a time):"
            )
        return "\n".join([head, *(f"- {cause.describe()}" for cause in self.causes)])


def _verb(access: Access) -> str:
    target = f"{access.obj}.{access.attr}" if access.attr else access.obj
    return f"{access.kind}s {target}"


def _cause(trace: Trace, first: int, second: int, verified: bool, instead: str = "") -> Cause:
    a, b = trace.steps[first], trace.steps[second]
    pair = next(
        ((x, y) for x in a.accesses for y in b.accesses if x.conflicts_with(y)),
        None,
    )
    return Cause(
        first=first,
        second=second,
        first_task=trace.task_name(a.task),
        second_task=trace.task_name(b.task),
        first_site=a.location,
        second_site=b.location,
        access=_verb(pair[0]) if pair else "its step",
        other=_verb(pair[1]) if pair else "its step",
        verified=verified,
        instead=instead,
    )


#: Objects whose conflicts are bookkeeping of trio's structure (a child exiting its nursery), not
#: orderings a reader would call a cause.
_STRUCTURAL = ("Nursery#", "CancelScope#")


def candidates(trace: Trace, named: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    """Orderings worth reversing: every pair of steps of different tasks with conflicting accesses
    (trio's own nursery bookkeeping left out); the pairs of steps the failure's explanation names
    first, then the reversals that move fewest steps, then by position."""
    steps = trace.steps
    found: set[tuple[int, int]] = set()
    for later in steps:
        for access in later.accesses:
            if access.obj.startswith(_STRUCTURAL):
                continue
            for earlier in steps[: later.seq]:
                if earlier.task != later.task and any(
                    access.conflicts_with(other) for other in earlier.accesses
                ):
                    found.add((earlier.seq, later.seq))

    def moved(pair: tuple[int, int]) -> int:
        task = steps[pair[1]].task
        return sum(step.task == task for step in steps[pair[0] : pair[1] + 1])

    return sorted(
        found, key=lambda pair: (pair[0] not in named and pair[1] not in named, moved(pair), pair)
    )


def reversed_order(trace: Trace, first: int, second: int) -> list[str]:
    """The trace's step order (task names) with ``second``'s task's steps from ``first`` up to
    ``second`` moved just before ``first``."""
    task = trace.steps[second].task
    moved = [s for s in trace.steps[first : second + 1] if s.task == task]
    rest = [s for s in trace.steps if not (s.task == task and first <= s.seq <= second)]
    at = rest.index(trace.steps[first])
    order = rest[:at] + moved + rest[at:]
    return [trace.task_name(step.task) for step in order]


class FollowOrder(BaseStrategy):
    """Run steps in a given order of task names, as far as the run allows: at each decision the
    first task of the remaining order that is runnable goes."""

    name = "follow"

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self._done = False

    def new_execution(self) -> bool:
        if self._done:
            return False
        self._done = True
        return True

    def choose(self, choice: Choice) -> int:
        remaining = list(self.order)
        names = choice.recorder.tasks
        for step in choice.recorder.steps:
            name = names[step.task].name
            if name in remaining:
                remaining.remove(name)
        for name in remaining:
            if name in choice.names:
                return choice.names.index(name)
        return choice.previous if choice.previous is not None else 0


def _position(trace: Trace, task: str, index: int) -> int | None:
    for step in trace.steps:
        if trace.task_name(step.task) == task and step.index == index:
            return step.seq
    return None


def root_cause(
    scenario: Callable[[], Awaitable[None]],
    failure: Failure,
    *,
    requires: Order | None,
    races: bool,
    max_steps: int,
    budget: int = CAUSE_RUNS,
) -> RootCause:
    """The orderings of ``failure``'s run whose reversal makes it disappear (see the module).

    A reversed run is judged for the failure's own kind only: an assertion failure disappears
    when the run raises no such assertion, whatever data races the run also has (those are
    findings of their own, reported on their own)."""
    from ._anchor import failure_signature
    from ._explore import judge
    from ._run import run_once

    trace = failure.trace
    if failure.kind == "race" and failure.races:
        race: Any = failure.races[0]
        pair = sorted((race.first_step, race.second_step))
        return RootCause((_cause(trace, pair[0], pair[1], verified=False),), 0, 0)
    named = tuple(step for verdict in failure.verdicts for step in verdict.steps)
    target = (failure.kind, failure_signature(failure.kind, failure.message, failure.races))
    causes: list[Cause] = []
    runs = tried = changed = 0
    for first, second in candidates(trace, named):
        if runs >= budget:
            break
        a, b = trace.steps[first], trace.steps[second]
        strategy = FollowOrder(reversed_order(trace, first, second))
        strategy.new_execution()
        runs += 1
        outcome = run_once(
            scenario,
            strategy,
            mode=failure.schedule.mode,
            max_steps=max_steps,
            explore_time=failure.schedule.explore_time,
        )
        now_a = _position(outcome.trace, trace.task_name(a.task), a.index)
        now_b = _position(outcome.trace, trace.task_name(b.task), b.index)
        if now_b is None or (now_a is not None and now_a < now_b):
            continue  # could not be reversed: the later task was not runnable there
        tried += 1
        verdict = judge(outcome, requires if failure.kind == "order" else None, False)
        if verdict is None:
            causes.append(_cause(trace, first, second, verified=True))
        elif (verdict[0], failure_signature(verdict[0], verdict[1], verdict[4])) != target:
            changed += 1
            now = f"{verdict[0]}: {verdict[1].splitlines()[-1].lstrip('- ')}"
            causes.append(_cause(trace, first, second, verified=True, instead=now))
    causes.sort(key=lambda cause: bool(cause.instead))  # the reversals that pass first
    return RootCause(_earliest(causes), runs, tried, changed)


def _earliest(causes: list[Cause]) -> tuple[Cause, ...]:
    """One cause per pair of tasks and shared object: the earliest (later ones follow from it)."""
    kept: dict[tuple[frozenset[str], str], Cause] = {}
    for cause in causes:
        target = cause.access.split(" ", 1)[-1].split(".", 1)[0]
        key = (frozenset((cause.first_task, cause.second_task)), target)
        kept.setdefault(key, cause)
    return tuple(kept.values())
