"""How a replay of an ``rs2`` token ended, against code that may have changed since it was printed.

A replay follows the recorded intent (:class:`sim.strategies.replay.IntentReplay`) and ends in one
of four ways, each with its exit code for the command line:

=====================  ====  ============================================================
ending                 exit  meaning
=====================  ====  ============================================================
``reproduces``         1     the same failure (kind and message, numbers masked)
``passes now``         0     no failure, and at least half of the recorded decisions applied
``different failure``  3     a failure, but not the recorded one
``cannot tell``        2     no failure, but too little of the schedule applied to say that
                             the code copes with the recorded interleaving
=====================  ====  ============================================================

The threshold is deliberately plain: "passes now" is only claimed when the replay re-created at
least half of the recorded decisions (:data:`PASSES_NOW_MIN_APPLIED`); the numbers are always
printed so a reader can judge. Every drift (a decision that no longer applies, a site that moved,
a new ``await``) is one sentence in :attr:`ReplayReport.drift`, and the code that ran is compared
with the code recorded in the token, file by file.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._anchor import CodeChanges
    from .strategies.replay import IntentReplay

#: The least fraction of recorded decisions a passing replay must have applied to say "passes now".
PASSES_NOW_MIN_APPLIED = 0.5


class Ending(enum.Enum):
    REPRODUCES = "reproduces"
    PASSES_NOW = "passes now"
    DIFFERENT_FAILURE = "different failure"
    CANNOT_TELL = "cannot tell"

    @property
    def exit_code(self) -> int:
        return {
            Ending.REPRODUCES: 1,
            Ending.PASSES_NOW: 0,
            Ending.DIFFERENT_FAILURE: 4,  # 3 is racesim's own internal error
            Ending.CANNOT_TELL: 2,
        }[self]


@attrs.frozen
class ReplayReport:
    """The ending of a replay, with the numbers behind it and every drift in one sentence."""

    ending: Ending
    recorded: int  #: decisions in the token
    applied: int  #: recorded decisions taken (in order or late)
    late: int  #: of those, taken after a recorded decision that had to wait
    skipped: int  #: recorded decisions that no longer apply
    by_position: int  #: applied by position because their task's name is gone
    extra: int  #: steps and decisions the recording did not have
    drift: tuple[str, ...]
    code: CodeChanges
    recorded_kind: str  #: the failure kind in the token
    kind: str | None  #: the failure kind now (None: passes)

    @property
    def exit_code(self) -> int:
        return self.ending.exit_code

    @property
    def exact(self) -> bool:
        """The schedule applied exactly as recorded, to the same code."""
        return not self.drift and not self.code.any and self.applied == self.recorded

    def applied_text(self) -> str:
        text = f"{self.applied} of {self.recorded} recorded decisions applied"
        details = []
        if self.skipped:
            details.append(f"{self.skipped} no longer apply")
        if self.late:
            details.append(f"{self.late} later than recorded")
        if self.by_position:
            details.append(f"{self.by_position} by position")
        if self.extra:
            details.append(f"{self.extra} new steps or decisions")
        return text + (f" ({', '.join(details)})" if details else "")

    def describe(self) -> str:
        """The ending in one sentence, then the code comparison and the drift, one per line."""
        applied = self.applied_text()
        head = {
            Ending.REPRODUCES: f"reproduces the same {self.recorded_kind} failure; {applied}",
            Ending.PASSES_NOW: f"passes now; {applied}",
            Ending.DIFFERENT_FAILURE: (
                f"a different failure: {self.kind}, where the token recorded "
                f"{self.recorded_kind or 'a failure'}; {applied}"
            ),
            Ending.CANNOT_TELL: (
                f"cannot tell: the run passes, but only {applied}, too little of the recorded "
                "schedule to say the code now copes with it; run 'racesim explore' again"
            ),
        }[self.ending]
        return "\n".join([head, self.code.describe(), *(f"- {line}" for line in self.drift)])

    @classmethod
    def of(
        cls,
        strategy: IntentReplay,
        code: CodeChanges,
        *,
        recorded_kind: str,
        recorded_signature: int,
        kind: str | None,
        signature: int,
    ) -> ReplayReport:
        recorded = len(strategy.recorded)
        applied = len(strategy.applied)
        if kind is not None:
            same = kind == recorded_kind and signature == recorded_signature
            ending = Ending.REPRODUCES if same else Ending.DIFFERENT_FAILURE
        elif recorded and applied < PASSES_NOW_MIN_APPLIED * recorded:
            ending = Ending.CANNOT_TELL
        else:
            ending = Ending.PASSES_NOW
        return cls(
            ending=ending,
            recorded=recorded,
            applied=applied,
            late=sum(item.late for item in strategy.applied),
            skipped=len(strategy.skipped),
            by_position=strategy.by_position,
            extra=strategy.extra,
            drift=tuple(strategy.drift),
            code=code,
            recorded_kind=recorded_kind,
            kind=kind,
        )
