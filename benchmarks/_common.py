"""Shared helpers of the benchmark scripts: machine description, A/B timing, tables, JSON output.

Every script reports the machine it ran on (cores, CPU model, load average, Python and trio
versions), because numbers from a shared 2-core box mean little without it. Timings are taken by
:func:`interleaved`: the variants run in alternating rounds (A B, then B A, ...) so that slow drift
of the machine (other processes, CPU frequency) hits every variant alike, and each variant's figure
is the median of its rounds. :class:`Stopwatch` reads both the process CPU time and the wall clock:
on a box whose other processes compete for the cores, CPU time is the steadier measure of what the
code costs, wall time what a user waits. Results go to ``reports/bench/<name>.json`` next to the
command line that produced them (``RACESIM_BENCH_DIR`` redirects them, as the smoke test does).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "reports" / "bench"
console = Console(width=150)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "loadavg_at_start": load,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "trio": trio.__version__,
        "platform": platform.platform(),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['nproc']} cores, {info['cpu']}, load {info['loadavg_at_start']}, "
        f"Python {info['python']}, trio {info['trio']}"
    )


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round, alternating the order every round; each call returns the
    figure it measured (e.g. seconds per schedule). Returns every sample per variant."""
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(variants[name]())
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(min, max) of the samples, to show how noisy the machine was."""
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


class Stopwatch:
    """``with Stopwatch() as w: ...`` then ``w.cpu`` / ``w.wall`` in seconds."""

    cpu = wall = 0.0

    def __enter__(self) -> Stopwatch:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def elapsed(self) -> float:
        """Wall seconds since entering (while still running)."""
        return time.perf_counter() - self._wall

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain rich table (numbers right-aligned)."""
    out = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        out.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    console.print(out)


def write_json(name: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    """Write ``payload`` (plus machine and command line) to ``reports/bench/<name>.json``, or
    under ``$RACESIM_BENCH_DIR`` when it is set."""
    directory = Path(os.environ.get("RACESIM_BENCH_DIR") or BENCH_DIR)
    path = out if out is not None else directory / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "schema": 1,
        "benchmark": name,
        "command": " ".join(["python", *sys.argv]),
        "machine": payload.pop("machine", None) or machine(),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    console.print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 100 else f"{seconds:,.0f} s"
