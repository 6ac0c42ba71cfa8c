"""Replay: follow a recorded schedule decision by decision, and say exactly where it stops fitting.

Replay is just another strategy (shuttle's ``ReplayScheduler``). At each decision it checks that the
recorded task is runnable at the recorded index; if the code under test changed so that it is not,
it raises :class:`ReplayDivergence` naming the decision, the expected task and what was runnable
instead. A run that needs more decisions than recorded, or ends before using them all, diverges
too: a changed scenario is never replayed silently into a pass.

With ``strict=False`` (used by the shrinker) it follows the recorded indices while they fit and
then keeps running the task that ran last (or the first runnable one), never raising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._protocol import BaseStrategy

if TYPE_CHECKING:
    from .._schedule import Schedule
    from .._trace import Trace
    from ._protocol import Choice


class ReplayDivergence(Exception):
    """The scenario no longer follows the recorded schedule (its code changed)."""


class ReplayStrategy(BaseStrategy):
    name = "replay"

    def __init__(self, schedule: Schedule, *, strict: bool = True) -> None:
        self.schedule = schedule
        self.strict = strict
        self._position = 0
        self._done = False

    def new_execution(self) -> bool:
        if self._done:
            return False
        self._done = True
        self._position = 0
        return True

    def choose(self, choice: Choice) -> int:
        decisions = self.schedule.decisions
        position = self._position
        self._position += 1
        if position >= len(decisions):
            if self.strict:
                raise ReplayDivergence(
                    f"the run needs a decision #{position} but the schedule has only "
                    f"{len(decisions)}; runnable: {', '.join(choice.names)}. The scenario changed "
                    "since the token was recorded: explore again for a fresh token"
                )
            return choice.previous if choice.previous is not None else 0
        expected = decisions[position]
        fits = expected.index < len(choice.candidates) and (
            choice.names[expected.index] == expected.task or not self.strict
        )
        if not fits:
            if self.strict:
                raise ReplayDivergence(
                    f"decision #{position} (step {choice.step}) expected task "
                    f"{expected.task!r} at position {expected.index}, but the runnable tasks were "
                    f"{', '.join(choice.names)}. The scenario changed since the token was "
                    "recorded: explore again for a fresh token"
                )
            return min(expected.index, len(choice.candidates) - 1)
        return expected.index

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        unused = len(self.schedule.decisions) - self._position
        if self.strict and unused > 0:
            raise ReplayDivergence(
                f"the run finished after {self._position} decisions but the schedule has "
                f"{len(self.schedule.decisions)}; the scenario changed since the token was "
                "recorded: explore again for a fresh token"
            )
