"""The contract between the exploration loop and a scheduling strategy.

Like shuttle's ``Scheduler`` trait, a strategy is three small methods: ``new_execution`` (start the
next run, or say the space is done), ``choose`` (pick one of the runnable model tasks at a decision
point) and ``execution_finished`` (see what the run did: the trace with its footprints, the decisions
taken). Everything a strategy needs to decide is in the :class:`Choice` it is handed; everything it
randomises comes from its own ``random.Random`` seeded per execution (:func:`execution_seed`), so a
seed plus a strategy name reproduces one run exactly, in any process.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from .._schedule import Schedule
    from .._trace import Recorder, Trace


@attrs.frozen
class Choice:
    """A decision point: more than one model task (or the clock) can go next."""

    candidates: tuple[int, ...]  #: runnable model task ids, in spawn order
    names: tuple[str, ...]  #: their names, same order
    previous: int | None  #: index of the task that ran last, if it is still runnable
    decision: int  #: decisions made so far in this run
    step: int  #: steps run so far in this run
    recorder: Recorder  #: the live trace so far (footprints of every finished step)
    clock: bool = False  #: the last candidate is "advance the virtual clock" (explore_time)


@runtime_checkable
class Strategy(Protocol):
    name: str

    def new_execution(self) -> bool:
        """Prepare the next execution; False when there is nothing left to explore."""
        ...

    def choose(self, choice: Choice) -> int:
        """The index into ``choice.candidates`` to run next."""
        ...

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        """Feedback after each execution (exhaustive strategies backtrack here)."""
        ...


class BaseStrategy:
    """Defaults for the optional parts of the protocol."""

    name = "base"
    #: True for strategies that enumerate a finite space and can say it is exhausted.
    exhaustive = False
    #: The seed of the current execution, for strategies driven by randomness.
    execution_seed: int | None = None

    def execution_finished(self, trace: Trace, schedule: Schedule) -> None:
        return None

    def describe(self) -> str:
        return self.name


def execution_seed(seed: int, index: int) -> int:
    """The seed of execution ``index`` of an exploration seeded with ``seed``.

    Execution 0 uses ``seed`` itself, so the seed printed for a failure reproduces that run as the
    first (and only) execution of a new exploration. Derived with SHA-256, never ``hash()``.
    """
    if index == 0:
        return seed
    digest = hashlib.sha256(f"racesim:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:6], "big")
