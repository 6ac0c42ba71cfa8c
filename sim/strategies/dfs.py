"""Exhaustive depth-first enumeration of schedules, optionally preemption-bounded (CHESS).

Stateless model checking (Godefroid 1997; Musuvathi et al., CHESS, OSDI 2008): nothing is
snapshotted; each execution re-runs the scenario from the start, following the decision stack of
the previous one up to the deepest decision with an untried alternative. Every schedule is run
exactly once, so the count is the number of distinct interleavings of the model's steps.

With ``preemption_bound=k`` a decision may switch away from a task that is still runnable at most k
times per execution (Musuvathi & Qadeer, PLDI 2007): most concurrency bugs need very few
preemptions, and the space shrinks from exponential in the steps to polynomial. Switching after a
task blocks or exits is free. The first alternative tried at each decision is "keep running the
task that ran last", so the very first execution runs each task as far as it goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._protocol import BaseStrategy

if TYPE_CHECKING:
    from .._schedule import Schedule
    from .._trace import Trace
    from ._protocol import Choice


class DfsStrategy(BaseStrategy):
    name = "dfs"
    exhaustive = True

    def __init__(self, preemption_bound: int | None = None) -> None:
        if preemption_bound is not None and preemption_bound < 0:
            raise ValueError("preemption_bound must be >= 0 (or None for no bound)")
        self.preemption_bound = preemption_bound
        # One frame per decision of the current execution: (allowed indices, position in them).
        self._stack: list[tuple[tuple[int, ...], int]] = []
        self._depth = 0
        self._preemptions = 0
        self._started = False
        self.exhausted = False

    def describe(self) -> str:
        if self.preemption_bound is None:
            return "dfs"
        return f"dfs (preemption bound {self.preemption_bound})"

    def new_execution(self) -> bool:
        if self._started:
            while self._stack:
                allowed, position = self._stack[-1]
                if position + 1 < len(allowed):
                    self._stack[-1] = (allowed, position + 1)
                    break
                self._stack.pop()
            if not self._stack:
                self.exhausted = True
                return False
        self._started = True
        self._depth = 0
        self._preemptions = 0
        return True

    def _allowed(self, choice: Choice) -> tuple[int, ...]:
        every = range(len(choice.candidates))
        previous = choice.previous
        if previous is None:
            return tuple(every)
        bound = self.preemption_bound
        if bound is not None and self._preemptions >= bound:
            return (previous,)
        return (previous, *(index for index in every if index != previous))

    def choose(self, choice: Choice) -> int:
        if self._depth < len(self._stack):
            allowed, position = self._stack[self._depth]
        else:
            allowed, position = self._allowed(choice), 0
            self._stack.append((allowed, position))
        self._depth += 1
        index = allowed[position]
        if index >= len(choice.candidates):
            raise RuntimeError(
                "internal error in racesim - please report: the scenario is not deterministic "
                f"(decision {self._depth - 1} had {len(choice.candidates)} runnable tasks, "
                f"an earlier run of the same prefix had more)"
            )
        if choice.previous is not None and index != choice.previous:
            self._preemptions += 1
        return index

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        # Decisions beyond this run's depth belong to a longer earlier run: drop them.
        del self._stack[self._depth :]
