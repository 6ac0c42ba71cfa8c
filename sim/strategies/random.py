"""Uniform random scheduling: at every decision, any runnable task with equal probability.

The baseline every paper compares against, and surprisingly strong on shallow bugs. Each execution
has its own ``random.Random`` seeded by :func:`execution_seed`, so the seed printed with a failure
reproduces exactly that run.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ._protocol import BaseStrategy, execution_seed

if TYPE_CHECKING:
    from ._protocol import Choice


class RandomStrategy(BaseStrategy):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._executions = 0
        self._rng = random.Random(seed)

    def new_execution(self) -> bool:
        self.execution_seed = execution_seed(self.seed, self._executions)
        self._rng = random.Random(self.execution_seed)
        self._executions += 1
        return True

    def choose(self, choice: Choice) -> int:
        return self._rng.randrange(len(choice.candidates))
