"""Plain-text rendering of a trace: one column per task, one row per step.

A failing interleaving is easiest to read the way people draw it on a whiteboard: time runs down,
each task has its own lane, and a row says which task moved and where it stopped. So the table has
a ``step`` column, one column per model task (spawn order, the same order schedules use) holding the
``file:line`` where that task's step ended (``exit`` when it finished), and a ``notes`` column with
what the step did that matters to a reader: ``sim.note`` events, reads and writes of ``@sim.tracked``
state, spawns and wake-ups, plus a marker on the steps a failure blames (the two sides of a race,
the steps of a violated order).

Accesses to trio's own objects (locks, nurseries, channels) are left out: they are in every step
that synchronises and would drown the data accesses; the happens-before explanation names them when
they matter. The text is plain ASCII-friendly monospace with no colour, so it reads the same in a
pytest failure message, a CI log, a JUnit file and a terminal; rich styling belongs to callers.

Used by the pytest plugin's failure message; the CLI can reuse :func:`render_failure_trace`.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ._explore import Failure
    from ._trace import Step, Trace

#: Longest trace rendered in full; longer ones keep their first and last rows around an elision.
MAX_ROWS = 80


def _notes_of(trace: Trace, step: Step) -> str:
    parts = [f"note {note.describe()}" for note in step.notes]
    parts += [f"{a.kind} {a.obj}.{a.attr}" for a in step.accesses if not a.is_sync]
    if step.spawned:
        parts.append("spawn " + ", ".join(trace.task_name(task) for task in step.spawned))
    if step.woke:
        parts.append("wake " + ", ".join(trace.task_name(task) for task in step.woke))
    return "; ".join(parts)


def render_trace(
    trace: Trace, marks: Mapping[int, str] | None = None, *, max_rows: int = MAX_ROWS
) -> str:
    """The trace as a column-per-task table. ``marks`` maps a step's seq to a short label
    (``"race"``) shown at the end of its row. Traces longer than ``max_rows`` keep their first and
    last rows and say how many were left out."""
    marks = marks or {}
    names = [task.name for task in trace.tasks]
    header = ["step", *names, "notes"]
    rows: list[list[str]] = []
    for step in trace.steps:
        lanes = [""] * len(names)
        lanes[step.task] = step.location
        notes = _notes_of(trace, step)
        if step.seq in marks:
            notes = f"{notes}  <-- {marks[step.seq]}" if notes else f"<-- {marks[step.seq]}"
        rows.append([str(step.seq), *lanes, notes])
    skipped = 0
    if len(rows) > max_rows:
        head = max_rows // 2
        skipped = len(rows) - max_rows
        rows = [*rows[:head], [], *rows[head + skipped :]]
    widths = [len(cell) for cell in header]
    for row in rows:
        for column, cell in enumerate(row[:-1]):
            widths[column] = max(widths[column], len(cell))

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[0]) if column == 0 else cell.ljust(widths[column])
            for column, cell in enumerate(cells[:-1])
        ]
        return "  ".join([*padded, cells[-1]]).rstrip()

    out = [line(header)]
    for row in rows:
        out.append(line(row) if row else f"{'...':>{widths[0]}}  ({skipped} steps not shown)")
    return "\n".join(out)


def blamed_steps(
    races: Iterable[Any], verdicts: Iterable[Any], trace: Trace | None = None, kind: str = ""
) -> dict[int, str]:
    """The steps a failure blames: both sides of each race, the steps of each bad verdict; for an
    assertion or exception with neither, :func:`switch_blame` of its (shrunk) trace."""
    marks: dict[int, str] = {}
    for race in races:
        marks.setdefault(race.first_step, "race")
        marks.setdefault(race.second_step, "race")
    for verdict in verdicts:
        for seq in verdict.steps:
            marks.setdefault(seq, verdict.status)
    if not marks and trace is not None and kind in ("assertion", "exception"):
        marks = switch_blame(trace)
    return marks


def _ancestors(trace: Trace, task: int) -> set[int]:
    found: set[int] = set()
    parent = trace.tasks[task].parent if task < len(trace.tasks) else None
    while parent is not None and parent not in found:
        found.add(parent)
        parent = trace.tasks[parent].parent
    return found


def switch_blame(trace: Trace) -> dict[int, str]:
    """What an assertion's run blames: each switch away from a task that still had work (its step
    ``preempted``, the other task's step that ran instead ``ran between``) and the last step, where
    the failure surfaced (``failed``). On a shrunk run — fewest preemptions — these switches are
    the interleaving the failure needs. A parent that waits for its children (a nursery) is not
    preempted by them, so a switch to a descendant is not blamed."""
    steps = trace.steps
    if not steps:
        return {}
    last_of: dict[int, int] = {}
    for step in steps:
        last_of[step.task] = step.seq
    marks: dict[int, str] = {}
    for step, following in itertools.pairwise(steps):
        if following.task == step.task or last_of[step.task] == step.seq:
            continue
        if step.task in _ancestors(trace, following.task):
            continue
        marks.setdefault(step.seq, "preempted")
        marks.setdefault(following.seq, "ran between")
    marks[steps[-1].seq] = "failed"
    return marks


def failure_marks(failure: Failure) -> dict[int, str]:
    return blamed_steps(failure.races, failure.verdicts, failure.trace, failure.kind)


def render_failure_trace(failure: Failure, *, max_rows: int = MAX_ROWS) -> str:
    """The failing run's trace with the blamed steps marked."""
    return render_trace(failure.trace, failure_marks(failure), max_rows=max_rows)
