"""``sim.schedules()``: a Hypothesis strategy whose values are schedules, so Hypothesis explores
interleavings and shrinks a failing one like any other input::

    from hypothesis import given
    import sim

    @given(schedule=sim.schedules())
    def test_wiring_precedes_start(schedule):          # a plain (sync) test function
        schedule.run(scenario, requires=sim.Order.chain("bridge_wired", "agent_started"))

``schedule.run`` runs the scenario once (its own ``trio.run``, so the test must not be ``async``),
drawing one choice from Hypothesis at every decision point, and raises ``AssertionError`` with the
failure's description and replay token when the run fails. Hypothesis then shrinks the choices and
reports the smallest failing schedule; its token replays with ``sim.replay``.

The encoding is what makes shrinking work. Each decision is drawn *relative to the task that ran
last*: ``0`` keeps running it (no preemption), ``k`` switches to the ``k``-th runnable task after it
in spawn order, wrapping around. Hypothesis shrinks integers towards 0 and deletes choices, and
both moves remove preemptions; a choice that runs out keeps running the last task. Measured on a
lost-event race: this shrank the failure to one decision in 0.13 s, whereas indices into the
sorted runnable list shrank poorly (55-76 examples to find it, six decisions left), because an
index names a different task as soon as an earlier task spawns or blocks.

Hypothesis is imported when ``sim.schedules()`` is first called, not with ``sim``: importing it
switches trio into its Hypothesis-friendly scheduling mode, which plain ``sim.explore`` users do
not need. Write state in the test body, not in fixtures: ``@given`` with a function-scoped fixture fails a
Hypothesis health check, and trio fixtures would need the ``trio.run`` this runs itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._explore import Run, failure_from, fingerprint_of, judge
from ._run import run_once
from ._settings import from_env
from .strategies._protocol import BaseStrategy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypothesis import strategies as st

    from ._order import Order
    from ._schedule import Schedule
    from .strategies._protocol import Choice


class HypothesisStrategy(BaseStrategy):
    """Draws every decision from a Hypothesis ``data`` object (see the module docstring)."""

    name = "hypothesis"

    def __init__(self, data: st.DataObject, max_decisions: int) -> None:
        self.data = data
        self.max_decisions = max_decisions

    def new_execution(self) -> bool:
        return True

    def choose(self, choice: Choice) -> int:
        count = len(choice.candidates)
        if choice.decision >= self.max_decisions:
            return choice.previous if choice.previous is not None else 0
        from hypothesis import strategies as st

        offset = self.data.draw(
            st.integers(0, count - 1), label=f"decision {choice.decision} of {count} tasks"
        )
        base = choice.previous if choice.previous is not None else 0
        return (base + offset) % count


class DrawnSchedule:
    """A schedule Hypothesis is drawing; :meth:`run` runs a scenario with it."""

    def __init__(self, data: st.DataObject, max_decisions: int, mode: str, explore_time: bool):
        self._data = data
        self._max_decisions = max_decisions
        self.mode = mode
        self.explore_time = explore_time
        self.schedule: Schedule | None = None  #: the decisions taken, once :meth:`run` ran
        self.token: str | None = None

    def __repr__(self) -> str:
        if self.schedule is None:
            return "sim.schedules() (not run yet)"
        return (
            f"sim.schedules(): {len(self.schedule)} decisions, "
            f"{self.schedule.preemptions} preemptions, token {self.token}"
        )

    def run(
        self,
        scenario: Callable[[], Awaitable[None]],
        *,
        requires: Order | None = None,
        races: bool = True,
        max_steps: int | None = None,
    ) -> Run:
        """Run ``scenario`` once with this schedule; raise ``AssertionError`` (with the replay
        token) when it fails, else return the :class:`~sim.Run`."""
        if self.schedule is not None:
            raise RuntimeError(
                "a drawn schedule runs once per example: draw another sim.schedules() value for "
                "a second scenario"
            )
        strategy = HypothesisStrategy(self._data, self._max_decisions)
        outcome = run_once(
            scenario,
            strategy,
            mode=self.mode,
            max_steps=from_env(max_steps=max_steps).max_steps,
            explore_time=self.explore_time,
        )
        fingerprint = fingerprint_of(scenario)
        self.schedule = outcome.schedule
        self.token = outcome.schedule.encode(fingerprint)
        verdict = judge(outcome, requires, races)
        if verdict is None:
            return Run(failure=None, trace=outcome.trace, schedule=outcome.schedule)
        failure = failure_from(
            scenario, outcome, verdict, fingerprint=fingerprint, strategy="hypothesis"
        )
        raise AssertionError(failure.describe())


def schedules(
    *, max_decisions: int = 1000, mode: str = "free", explore_time: bool = False
) -> st.SearchStrategy[DrawnSchedule]:
    """A Hypothesis strategy of schedules: ``@given(schedule=sim.schedules())`` then
    ``schedule.run(scenario, requires=...)``. Past ``max_decisions`` decisions the task that ran
    last keeps running; ``mode`` and ``explore_time`` are as for :func:`sim.explore`."""
    from hypothesis import strategies as st

    if mode not in ("free", "batch"):
        raise ValueError(f"mode must be 'free' or 'batch', not {mode!r}")
    if max_decisions < 0:
        raise ValueError(f"max_decisions must be >= 0, got {max_decisions}")
    return st.builds(
        DrawnSchedule,
        st.data(),
        st.just(max_decisions),
        st.just(mode),
        st.just(explore_time),
    )
