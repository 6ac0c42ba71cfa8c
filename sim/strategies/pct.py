"""Probabilistic concurrency testing: random priorities plus ``d - 1`` priority change points.

Burckhardt, Kothari, Musuvathi and Nagarakatte, *A randomized scheduler with probabilistic
guarantees of finding bugs*, ASPLOS 2010. The *depth* of a bug is the number of ordering
constraints an execution must satisfy to show it (an ordering bug between two steps has depth 1 or
2; an atomicity violation, 2). PCT always runs the runnable task of highest priority. Each task gets
a random distinct initial priority when it is first seen (all of them above ``d``); before a run,
``d - 1`` change points are drawn uniformly among the ``k`` steps a run is expected to take, and
when the ``i``-th change point is reached the task that ran that step drops to priority ``i``,
below every initial one. For a program with ``n`` tasks and ``k`` steps, every bug of depth ``d``
shows up in a run with probability at least ``1 / (n * k ** (d - 1))`` — a guarantee uniform random
scheduling cannot give (its chance of one specific preemption among ``k`` steps decays
exponentially with the length of the run).

The trade-off is the estimate of ``k``: too small and change points never reach the late steps,
too large and the bound weakens. Like shuttle's ``PctScheduler`` this uses the longest run seen so
far (the first run uses :data:`DEFAULT_STEPS`). The estimate a run used is part of its execution
seed (``k = seed >> 48``; plain user seeds are below that), so the seed printed with a failure
replays that run as the first execution of a fresh exploration, like every randomised strategy's.
:meth:`PctStrategy.bound` reports the guarantee for the tasks and steps observed, and
:meth:`describe` puts it in ``Result.strategy``.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from ._protocol import BaseStrategy, execution_seed

if TYPE_CHECKING:
    from .._schedule import Schedule
    from .._trace import Trace
    from ._protocol import Choice

#: The run length assumed before the first run has been seen.
DEFAULT_STEPS = 50
#: Execution seeds keep the run-length estimate above this bit (``execution_seed`` uses 48 bits).
_ESTIMATE_SHIFT = 48
_MAX_ESTIMATE = 2**20 - 1


class PctStrategy(BaseStrategy):
    name = "pct"

    def __init__(self, seed: int = 0, depth: int = 3) -> None:
        if depth < 1:
            raise ValueError(f"PCT depth must be at least 1 (got {depth}); the default is 3")
        self.seed = seed
        self.depth = depth
        self.tasks_seen = 0  #: n: the most model tasks one run has had
        self.steps_seen = 0  #: k: the most steps one run has taken
        self._executions = 0
        self._rng = random.Random(seed)
        self._priority: dict[int, float] = {}
        self._changes: list[int] = []  #: step numbers (1-based) of the change points, ascending
        self._applied = 0

    def bound(self) -> float:
        """The guaranteed chance per run of hitting any given depth-``d`` bug, for the tasks and
        steps seen so far: ``1 / (n * k ** (d - 1))``."""
        n = max(self.tasks_seen, 1)
        k = max(self.steps_seen, 1)
        return 1.0 / float(n * k ** (self.depth - 1))

    def runs_for(self, confidence: float = 0.99) -> int:
        """Runs after which the bound promises a depth-``d`` bug was hit with ``confidence``."""
        bound = self.bound()
        if bound >= 1.0:
            return 1
        return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - bound))

    def describe(self) -> str:
        if not self.steps_seen:
            return f"pct (depth {self.depth})"
        return (
            f"pct (depth {self.depth}; each run hits any depth-{self.depth} bug with probability "
            f">= 1/{round(1 / self.bound())} for n={self.tasks_seen} tasks, k={self.steps_seen} steps)"
        )

    def new_execution(self) -> bool:
        derived = execution_seed(self.seed, self._executions)
        if self._executions:  # carry the estimate, so the seed alone reproduces this run
            derived |= min(self.steps_seen, _MAX_ESTIMATE) << _ESTIMATE_SHIFT
        self.execution_seed = derived
        self._executions += 1
        rng = self._rng = random.Random(derived)
        self._priority = {}
        k = derived >> _ESTIMATE_SHIFT or DEFAULT_STEPS
        points = min(self.depth - 1, k)
        self._changes = sorted(rng.sample(range(1, k + 1), points))
        self._applied = 0
        return True

    def _priority_of(self, task: int) -> float:
        priority = self._priority.get(task)
        if priority is None:  # above every change-point priority, in a uniformly random order
            priority = self._priority[task] = self.depth + self._rng.random()
        return priority

    def choose(self, choice: Choice) -> int:
        steps = choice.recorder.steps
        while self._applied < len(self._changes) and self._changes[self._applied] <= len(steps):
            ran = steps[self._changes[self._applied] - 1].task
            self._applied += 1
            self._priority_of(ran)
            self._priority[ran] = self._applied  # the i-th change point: priority i
        ranked = [self._priority_of(task) for task in choice.candidates]
        return max(range(len(ranked)), key=ranked.__getitem__)

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        self.tasks_seen = max(self.tasks_seen, len(trace.tasks))
        self.steps_seen = max(self.steps_seen, len(trace.steps))
