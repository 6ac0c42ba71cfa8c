"""Progress of ``racesim explore``: a live table on a terminal, one quiet line per finished
scenario in logs and pipes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._parse import PROGRESS_INTERVAL
from ._printing import _console, _count

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .. import _report


class _Progress:
    """Live progress on a terminal (rich), one quiet line per finished scenario otherwise."""

    def __init__(self, names: Sequence[str], budgets: Sequence[int], workers: int) -> None:
        self.names = names
        self.budgets = budgets
        self.console = _console(stderr=True)
        self.live = self.console.is_terminal
        self.done = 0
        self.schedules: dict[int, int] = {}
        self.failures: dict[int, int] = {}
        self.rows: dict[int, Any] = {}
        self.started = self.shown = time.monotonic()
        self.bar: Any = None
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.total = self.bar.add_task("scenarios", total=len(names), stats=self._stats())
            self.bar.start()
        else:
            self.console.print(
                f"racesim: exploring {_count(len(names), 'scenario')} with "
                f"{_count(workers, 'worker')}",
                markup=False,
            )

    def _stats(self) -> str:
        schedules = sum(self.schedules.values())
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"{schedules:,} schedules · {schedules / elapsed:,.0f}/s · "
            f"{sum(self.failures.values())} failures"
        )

    def start(self, index: int) -> None:
        if self.bar is not None and index not in self.rows:
            self.rows[index] = self.bar.add_task(
                f"  {self.names[index]}", total=self.budgets[index], stats="starting"
            )

    def update(self, index: int, schedules: int, failures: int) -> None:
        self.schedules[index] = schedules
        self.failures[index] = failures
        now = time.monotonic()
        if self.bar is not None and now - self.shown >= PROGRESS_INTERVAL / 4:
            self.shown = now
            self.start(index)
            self.bar.update(self.rows[index], completed=schedules, stats=f"{failures} failures")
            self.bar.update(self.total, stats=self._stats())

    def finish(self, index: int, result: _report.ScenarioResult) -> None:
        self.done += 1
        self.schedules[index] = result.stats.schedules_run
        self.failures[index] = int(result.failure is not None)
        if self.bar is not None:
            if index in self.rows:
                self.bar.remove_task(self.rows.pop(index))
            self.bar.update(self.total, completed=self.done, stats=self._stats())
            return
        mark = {True: "as expected", False: "NOT as expected", None: "cannot tell"}[result.matches]
        self.console.print(
            f"racesim: [{self.done}/{len(self.names)}] {result.scenario.name}: "
            f"{result.verdict} after {_count(result.stats.schedules_run, 'schedule')} in "
            f"{result.stats.elapsed_seconds:.1f} s ({mark})",
            markup=False,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
