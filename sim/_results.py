"""Results: the values a report is made of — one scenario's outcome, a whole run, a shrunk
failure with its verdicts and races — as frozen attrs values.

They are shared by :mod:`sim._report` (JSON, JUnit and the files) and :mod:`sim._html` (the pages),
which both import them from here: neither of those two needs the other to name a result, so there
is no import cycle between them. A :class:`FailureRecord` also knows what its drawings and text
table blame (:meth:`FailureRecord.marks`, :meth:`FailureRecord.highlight`) and its DOT graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from . import _svg
from ._happens_before import check_order, happens_before_graph, to_dot
from ._render import blamed_steps, render_trace
from ._svg import Highlight

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._explore import Failure, Result
    from ._order import Order
    from ._schedule import Decision
    from ._trace import Access, Note, Trace


@attrs.frozen
class ScenarioInfo:
    """What was explored: the scenario as its file describes it."""

    name: str
    path: str
    description: str = ""
    system: str = ""
    variant: str = ""
    workload: Mapping[str, Any] = attrs.field(factory=dict)
    expect: str = ""
    fingerprint: str = ""


@attrs.frozen
class Stats:
    schedules_run: int
    exhausted: bool
    exit_reason: str  #: an ExitReason value ("exhausted", "max_schedules", ...)
    exit_reason_text: str
    first_failure_at: int | None
    elapsed_seconds: float  #: measured; displayed, never part of a verdict
    distinct_orders: int
    strategy: str  #: the strategy as it describes itself ("dfs (preemption bound 2)")
    unseen_steps: int = 0  #: steps that ran code racesim does not see (see ``notes``)
    total_steps: int = 0
    #: what the verdict does not cover: unseen code, health checks that fired (one sentence each)
    notes: list[str] = attrs.Factory(list)

    @classmethod
    def of(cls, result: Result) -> Stats:
        return cls(
            schedules_run=result.schedules_run,
            exhausted=result.exhausted,
            exit_reason=result.exit_reason.value,
            exit_reason_text=result.exit_reason.describe(),
            first_failure_at=result.first_failure_at,
            elapsed_seconds=round(result.elapsed, 4),
            distinct_orders=result.distinct_orders,
            strategy=result.strategy,
            unseen_steps=result.unseen_steps,
            total_steps=result.total_steps,
            notes=list(result.notes),
        )

    @property
    def rate(self) -> float:
        return self.schedules_run / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@attrs.frozen
class VerdictRecord:
    """One verdict of the required order on the failing run; notes as ``(step, position)``."""

    rule: str
    status: str
    group: Any
    per: str | None
    first: tuple[int, int] | None
    second: tuple[int, int] | None
    steps: tuple[int, ...]
    explanation: str

    @property
    def ok(self) -> bool:
        return self.status == "ordered"

    @property
    def where(self) -> str:
        return "" if self.per is None else f"{self.per}={self.group}"


@attrs.frozen
class RaceRecord:
    first_step: int
    second_step: int
    first: Access
    second: Access
    explanation: str


def _note_ref(note: Note | None) -> tuple[int, int] | None:
    return None if note is None else (note.step, note.position)


def _verdict_record(verdict: Any) -> VerdictRecord:
    return VerdictRecord(
        rule=verdict.rule,
        status=verdict.status,
        group=verdict.group,
        per=verdict.per,
        first=_note_ref(verdict.first),
        second=_note_ref(verdict.second),
        steps=tuple(verdict.steps),
        explanation=verdict.explanation,
    )


@attrs.frozen
class FailureRecord:
    """A shrunk failing run, with its trace, every verdict of the required order, and how to
    replay it (the token; for randomised strategies also the seed)."""

    kind: str
    message: str
    details: str
    token: str
    seed: int | None
    strategy: str
    found_at: int
    shrunk_from: tuple[int, int] | None
    mode: str
    explore_time: bool
    decisions: tuple[Decision, ...]
    trace: Trace
    verdicts: tuple[VerdictRecord, ...]  #: every verdict of the order (ok ones too), in order
    races: tuple[RaceRecord, ...]
    replay_command: str
    seed_command: str = ""

    @classmethod
    def of(
        cls,
        failure: Failure,
        order: Order | None,
        *,
        replay_command: str,
        seed_command: str = "",
    ) -> FailureRecord:
        if order is not None:
            verdicts = tuple(_verdict_record(v) for v in check_order(failure.trace, order))
        else:
            verdicts = tuple(_verdict_record(v) for v in failure.verdicts)
        return cls(
            kind=failure.kind,
            message=failure.message,
            details=failure.details,
            token=failure.token,
            seed=failure.seed,
            strategy=failure.strategy,
            found_at=failure.found_at,
            shrunk_from=failure.shrunk_from,
            mode=failure.schedule.mode,
            explore_time=failure.schedule.explore_time,
            decisions=failure.schedule.decisions,
            trace=failure.trace,
            verdicts=verdicts,
            races=tuple(
                RaceRecord(r.first_step, r.second_step, r.first, r.second, r.explanation)
                for r in failure.races
            ),
            replay_command=replay_command,
            seed_command=seed_command,
        )

    @property
    def preemptions(self) -> int:
        return sum(d.previous is not None and d.index != d.previous for d in self.decisions)

    @property
    def bad_verdicts(self) -> tuple[VerdictRecord, ...]:
        return tuple(v for v in self.verdicts if not v.ok)

    def shrink_summary(self) -> str:
        if self.shrunk_from is None:
            return "not shrunk (nothing smaller fails the same way)"
        preemptions, decisions = self.shrunk_from
        return (
            f"{preemptions} preemptions -> {self.preemptions}, "
            f"{decisions} decisions -> {len(self.decisions)}"
        )

    def marks(self) -> dict[int, str]:
        """The steps this failure blames, for the text table: race sides and bad verdicts."""
        return blamed_steps(self.races, self.bad_verdicts, self.trace, self.kind)

    def highlight(self) -> Highlight:
        """What the drawings show in red: the first race, else the first violated verdict."""
        if self.races:
            race = self.races[0]
            sides = (race.first_step, race.second_step)
            return Highlight(steps=frozenset(sides), pair=sides, pair_label="data race")
        bad = self.bad_verdicts
        if not bad:
            marks = self.marks()  # an assertion: its switches and the failing step
            switch = [seq for seq, mark in marks.items() if mark in ("preempted", "ran between")]
            switched = (switch[0], switch[1]) if len(switch) >= 2 else None
            return Highlight(
                steps=frozenset(marks),
                pair=switched,
                pair_label="preempted" if switched else "",
            )
        verdict = bad[0]
        notes = frozenset(ref for ref in (verdict.first, verdict.second) if ref is not None)
        pair: tuple[int, int] | None = None
        first, second = verdict.first, verdict.second
        if first is not None and second is not None and first[0] != second[0]:
            pair = (first[0], second[0])
        path: tuple[Any, ...] = ()
        if verdict.status == "inverted":
            path = _svg.proof_path(
                happens_before_graph(self.trace),
                self._note(verdict.first),
                self._note(verdict.second),
            )
        return Highlight(
            steps=frozenset(verdict.steps),
            notes=notes,
            pair=pair,
            pair_label=verdict.status,
            path=path,
        )

    def _note(self, ref: tuple[int, int] | None) -> Note | None:
        return None if ref is None else self.trace.steps[ref[0]].notes[ref[1]]

    def table(self) -> str:
        """The failing run as a column-per-task text table, blamed steps marked."""
        return render_trace(self.trace, self.marks())

    def dot(self) -> str:
        graph = happens_before_graph(self.trace)
        highlight = self.highlight()
        lit: list[Any] = [("step", seq) for seq in sorted(highlight.steps)]
        lit += [("note", *ref) for ref in sorted(highlight.notes)]
        return to_dot(graph, highlight=[node for node in lit if node in graph])


@attrs.frozen
class ScenarioResult:
    """One scenario's outcome, as ``result.json`` stores it."""

    command: str  #: "explore" or "replay"
    scenario: ScenarioInfo
    settings: Mapping[str, Any]  #: strategy, max_schedules, time_budget, seed, mode, ...
    verdict: str  #: "race found", "clean", "clean (not exhausted)", "no race found", ...
    #: the verdict is what the scenario expects; None: cannot tell (a race scenario whose
    #: race a non-exhaustive exploration did not find within its budget)
    matches: bool | None
    stats: Stats
    order: tuple[str, ...]  #: the required order's rules, as written
    failure: FailureRecord | None = None

    @property
    def replay_command(self) -> str:
        return self.failure.replay_command if self.failure is not None else ""


@attrs.frozen
class RunResult:
    """A whole ``racesim explore``: every scenario's result, in sorted scenario order."""

    command: str  #: the command line, for the record
    results: tuple[ScenarioResult, ...]
    shard: str | None = None  #: "i/N" when the run was one shard of the scenarios
    interrupted: bool = False  #: stopped by Ctrl-C: the results are the scenarios that finished

    @property
    def ok(self) -> bool:
        return all(result.matches is not False for result in self.results)
