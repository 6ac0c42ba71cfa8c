"""Partial order sampling: random priorities per pending step, re-drawn when a racing step runs.

Yuan, Yang and Gu, *Partial Order Aware Concurrency Sampling*, CAV 2018. Uniform random scheduling
samples *interleavings* uniformly, so a partial order with many linearisations is found far more
often than one with few — and the buggy order is usually a rare one. POS samples closer to
uniformly over partial orders: every pending step has a random priority, the runnable task whose
pending step has the highest priority runs, and after a step runs the priorities of the pending
steps that *race* with it (conflicting footprints) are drawn again, as is the priority of the next
step of the task that ran. Steps that commute with what just ran keep their priority, so the
sampler does not waste randomness on reorderings that reach the same state.

The engine learns a step's footprint only after the step ran, so the footprint of a task's
*pending* step is estimated by that of its most recent step (a loop touching the same state each
round is estimated exactly; a task's first step, not yet seen, is never considered racing). The
estimate only steers sampling; every sampled schedule is a real execution either way.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ._history import dependent, footprint_of
from ._protocol import BaseStrategy, execution_seed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._trace import Step
    from ._history import Footprint
    from ._protocol import Choice


class PosStrategy(BaseStrategy):
    name = "pos"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._executions = 0
        self._rng = random.Random(seed)
        self._priority: dict[int, float] = {}
        self._estimate: dict[int, Footprint] = {}  #: task -> footprint of its latest step
        self._seen = 0

    def new_execution(self) -> bool:
        self.execution_seed = execution_seed(self.seed, self._executions)
        self._executions += 1
        self._rng = random.Random(self.execution_seed)
        self._priority = {}
        self._estimate = {}
        self._seen = 0
        return True

    def _observe(self, steps: Sequence[Step]) -> None:
        for step in steps[self._seen :]:
            ran = footprint_of(step)
            for task, pending in self._estimate.items():
                if task != step.task and dependent(pending, ran):
                    self._priority[task] = self._rng.random()
            self._estimate[step.task] = ran
            self._priority[step.task] = self._rng.random()  # its next step is a new event
        self._seen = len(steps)

    def choose(self, choice: Choice) -> int:
        self._observe(choice.recorder.steps)
        for task in choice.candidates:
            if task not in self._priority:
                self._priority[task] = self._rng.random()
        ranked = [self._priority[task] for task in choice.candidates]
        return max(range(len(ranked)), key=ranked.__getitem__)
