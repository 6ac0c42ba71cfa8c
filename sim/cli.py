"""The ``racesim`` command: ``explore``, ``replay``, ``list`` and ``report``.

The command line is a thin shell around the library: it finds scenario files
(:mod:`sim._scenario`), explores each one with :func:`sim.explore`, compares the verdict with what
the file expects, prints a table and hands the results to :mod:`sim._report`, which writes them.

**Determinism.** Each scenario is explored on its own, with its own settings, from a fresh
strategy: nothing carries over from one scenario to the next. So the verdicts and tokens of a run
do not depend on ``--workers`` (scenarios spread over processes, results put back in sorted order)
nor on ``--shard`` (a round-robin slice of the sorted list; the shards of a matrix together run
exactly the unsharded list). Both paths go through the same JSON form of a result, so what a
worker computes is what a single process would. Wall-clock time is displayed and stops an
exploration only under ``--time``; it never decides a verdict or a token.

**Exit codes** (like pytest's): 0 every verdict as expected / the replayed run passes now;
1 some verdict not as expected / the replayed failure reproduces; 2 bad input (a missing or invalid
file, an unknown strategy, a damaged or foreign token, a bad flag) — one sentence saying what to
do, never a traceback; 3 an internal error, which says "internal error in racesim — please report".

**Expectations.** A ``race`` scenario is as expected when a failure is found (one matching its
``[expect_failure]`` if it has one). A ``clean`` scenario is as expected when no failure is found
and, if its settings promise exhaustion (a systematic strategy such as dfs or dpor, with the file's
own budget: no ``--max-schedules`` or ``--time`` given), the bounded space was exhausted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import multiprocessing
import os
import queue
import re
import shlex
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from . import _report
from ._explore import explore, replay
from ._health import HealthCheck, HealthCheckWarning
from ._render import render_trace
from ._scenario import ScenarioError, discover, load_reported, load_scenario
from ._schedule import TokenError, split_token
from .strategies import NAMES, ReplayDivergence, resolve

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rich.console import Console

    from ._explore import Failure, Result
    from ._scenario import Scenario

OK, NOT_AS_EXPECTED, BAD_INPUT, INTERNAL = 0, 1, 2, 3
DEFAULT_SCENARIOS = "scenarios"
DEFAULT_REPORTS = "reports"
#: Strategies driven by a seed: ``racesim replay FILE --seed N`` makes sense for these only.
SEEDED = ("random", "pct", "pos")
#: Seconds between progress messages a worker process sends.
PROGRESS_INTERVAL = 0.2


class UsageError(Exception):
    """Bad input from the user: printed as one sentence, exit code 2."""


# -- argument parsing --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "racesim" else f"{self.prog}: "
        raise UsageError(f"{where}{message}; see '{self.prog} --help'")


def _at_least(minimum: int, what: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be >= {minimum}, got {value}")
        return value

    return convert


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the time budget must be > 0 seconds, got {text}")
    return value


def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not i/N (for example 1/2)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range: i must be between 1 and N (for example 1/2 and 2/2)"
        )
    return index, count


def _strategy(text: str) -> str:
    if text not in NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown strategy {text!r}; use one of {', '.join(NAMES)}"
        )
    return text


def _parser() -> _Parser:
    parser = _Parser(
        prog="racesim",
        description="Deterministic race-condition simulation for trio: explore the interleavings "
        "of scenario files, replay failures exactly, and write reports.",
        epilog="exit codes: 0 as expected / passes, 1 not as expected / failure reproduces, "
        "2 bad input, 3 internal error",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    ex = commands.add_parser(
        "explore",
        help="explore scenario files and check every verdict against its expectation",
        description="Explore every scenario (default: scenarios/ in the current directory), "
        "print a summary table and write reports. Flags override each file's [explore] "
        "settings.",
    )
    ex.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or directories")
    ex.add_argument("--strategy", type=_strategy, help=f"one of {', '.join(NAMES)}")
    ex.add_argument("--max-schedules", type=_at_least(1, "--max-schedules"), metavar="N")
    ex.add_argument("--time", type=_seconds, metavar="SECONDS", help="time budget per scenario")
    ex.add_argument("--seed", type=_at_least(0, "--seed"), metavar="N")
    ex.add_argument("--mode", choices=("free", "batch"))
    ex.add_argument("--preemption-bound", type=_at_least(0, "--preemption-bound"), metavar="K")
    ex.add_argument(
        "--workers",
        type=_at_least(1, "--workers"),
        default=1,
        metavar="N",
        help="processes (results are the same for any N)",
    )
    ex.add_argument("--shard", type=_shard, metavar="i/N", help="run only shard i of N")
    ex.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    ex.add_argument("--report-dir", type=Path, default=Path(DEFAULT_REPORTS), metavar="DIR")
    ex.add_argument("--json", action="store_true", help="print the run as JSON on stdout")

    rp = commands.add_parser(
        "replay",
        help="re-run a failure exactly from its token (or a scenario file and --seed)",
        description="Replay TOKEN against the scenario whose current version it was recorded "
        "for, or run SCENARIO's randomised execution with --seed. Exit 1 when the failure "
        "reproduces, 0 when the run passes now.",
    )
    rp.add_argument("target", metavar="TOKEN|SCENARIO")
    rp.add_argument("--seed", type=_at_least(0, "--seed"), metavar="N")
    rp.add_argument("--strategy", type=_strategy, help=f"with --seed: one of {', '.join(SEEDED)}")
    rp.add_argument(
        "--scenarios",
        type=Path,
        default=Path(DEFAULT_SCENARIOS),
        metavar="DIR",
        help="where to look for the token's scenario",
    )
    rp.add_argument("--report-dir", type=Path, default=Path(DEFAULT_REPORTS), metavar="DIR")

    ls = commands.add_parser("list", help="list scenarios and reported races")
    ls.add_argument("paths", nargs="*", metavar="PATH")

    rep = commands.add_parser(
        "report",
        help="regenerate HTML from a saved result.json or run.json",
        description="Redraw report.html (and hb.dot) from a saved JSON result, without "
        "re-running anything.",
    )
    rep.add_argument("json_file", type=Path, metavar="RUN.json")
    rep.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write (default: next to the JSON)"
    )
    return parser


# -- output ------------------------------------------------------------------------------------
def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        # Logs and pipes: wide enough that tokens and commands are never wrapped mid-way.
        console = Console(stderr=stderr, highlight=False, width=500)
    return console


def _print_table(console: Console, table: Any) -> None:
    """A rich table; in logs and pipes without the padding rich adds at the end of lines."""
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    lines = captured.get().splitlines()
    console.file.write("".join(line.rstrip() + "\n" for line in lines))


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _replay_command(scenario: Scenario, token: str) -> str:
    command = f"racesim replay {token}"
    directory = _relative(scenario.path.parent)
    if Path(directory) != Path(DEFAULT_SCENARIOS):
        command += f" --scenarios {shlex.quote(directory)}"
    return command


def _seed_command(scenario: Scenario, failure: Failure) -> str:
    if failure.seed is None:
        return ""
    path = shlex.quote(_relative(scenario.path))
    return f"racesim replay {path} --seed {failure.seed} --strategy {failure.strategy}"


def _info(scenario: Scenario) -> _report.ScenarioInfo:
    return _report.ScenarioInfo(
        name=scenario.name,
        path=_relative(scenario.path),
        description=scenario.description,
        system=scenario.system,
        variant=scenario.variant,
        workload=scenario.workload_dict,
        expect=scenario.expect,
        fingerprint=scenario.fingerprint,
    )


# -- explore: one scenario (also the worker function) ----------------------------------------
@attrs.frozen
class Overrides:
    """The command-line flags that override a file's [explore] settings (None: the file's)."""

    strategy: str | None = None
    max_schedules: int | None = None
    time_budget: float | None = None
    seed: int | None = None
    mode: str | None = None
    preemption_bound: int | None = None


def expectation(
    scenario: Scenario, result: Result, promised: bool
) -> tuple[str, bool, Failure | None]:
    """``(verdict, as expected, the failure to report)`` for a scenario's exploration."""
    failures = result.failures
    if scenario.expect != "clean":
        if not failures:
            what = "no unawaited coroutine" if scenario.expect == "unawaited" else "no race"
            return (f"{what} found" + (" (exhausted)" if result.exhausted else ""), False, None)
        wanted = scenario.expect_failure
        for failure in failures:
            if wanted is None or wanted.matches(failure):
                return (_found(failure), True, failure)
        expected = wanted.describe() if wanted is not None else "a failure"
        return (f"other failure ({failures[0].kind}; expected {expected})", False, failures[0])
    if failures:
        return (_found(failures[0]), False, failures[0])
    if result.exhausted:
        return ("clean", True, None)
    return ("clean (not exhausted)", not promised, None)


def _found(failure: Failure) -> str:
    if failure.kind == "unawaited":
        return "unawaited coroutine found"
    return f"race found ({failure.kind})"


_progress_queue: Any = None


def _init_worker(progress: Any) -> None:
    global _progress_queue
    _progress_queue = progress


def _queue_progress(index: int) -> Callable[[int, int], None]:
    last = 0.0

    def report(schedules: int, failures: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL:
            last = now
            _progress_queue.put(("progress", index, schedules, failures))

    return report


def explore_scenario(
    path: str,
    overrides: Overrides,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Explore one scenario file with its settings and ``overrides``; its result as JSON."""
    scenario = load_scenario(path)
    file = scenario.explore_settings
    strategy = overrides.strategy or file.strategy
    seed = file.seed if overrides.seed is None else overrides.seed
    bound = (
        file.preemption_bound if overrides.preemption_bound is None else overrides.preemption_bound
    )
    max_schedules = overrides.max_schedules or file.max_schedules
    mode = overrides.mode or file.mode
    exhaustive = bool(
        getattr(resolve(strategy, seed=seed, preemption_bound=bound), "exhaustive", False)
    )
    promised = exhaustive and overrides.max_schedules is None and overrides.time_budget is None
    fn, order = scenario.build()
    requires = order if order.rules else None
    with warnings.catch_warnings():  # health checks are printed as notes under the table
        warnings.simplefilter("ignore", HealthCheckWarning)
        result = explore(
            fn,
            strategy=strategy,
            max_schedules=max_schedules,
            seed=seed,
            preemption_bound=bound,
            requires=requires,
            mode=mode,
            races=file.races,
            time_budget=overrides.time_budget,
            max_failures=file.max_failures,
            on_progress=on_progress,
        )
    verdict, matches, failure = expectation(scenario, result, promised)
    record = None
    if failure is not None:
        record = _report.FailureRecord.of(
            failure,
            requires,
            replay_command=_replay_command(scenario, failure.token),
            seed_command=_seed_command(scenario, failure),
        )
    settings = {
        "strategy": strategy,
        "max_schedules": max_schedules,
        "time_budget": overrides.time_budget,
        "seed": seed,
        "mode": mode,
        "preemption_bound": bound,
        "max_failures": file.max_failures,
        "races": file.races,
        "promises_exhaustion": promised,
    }
    outcome = _report.ScenarioResult(
        command="explore",
        scenario=_info(scenario),
        settings=settings,
        verdict=verdict,
        matches=matches,
        stats=_report.Stats.of(result),
        order=tuple(rule.describe() for rule in order.rules),
        failure=record,
    )
    return _report.result_to_json(outcome)


def _worker(index: int, path: str, overrides: Overrides) -> dict[str, Any]:
    _progress_queue.put(("start", index, 0, 0))
    return explore_scenario(path, overrides, _queue_progress(index))


# -- explore: progress -------------------------------------------------------------------------
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
        mark = "as expected" if result.matches else "NOT as expected"
        self.console.print(
            f"racesim: [{self.done}/{len(self.names)}] {result.scenario.name}: "
            f"{result.verdict} after {_count(result.stats.schedules_run, 'schedule')} in "
            f"{result.stats.elapsed_seconds:.1f} s ({mark})",
            markup=False,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _run_all(
    paths: Sequence[str],
    overrides: Overrides,
    workers: int,
    on_done: Callable[[int, dict[str, Any]], None],
    progress: _Progress,
) -> None:
    if workers == 1 or len(paths) <= 1:
        for index, path in enumerate(paths):
            progress.start(index)
            on_done(
                index, explore_scenario(path, overrides, functools.partial(progress.update, index))
            )
        return
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(paths)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(messages,),
    ) as pool:
        pending = {
            pool.submit(_worker, index, path, overrides): index for index, path in enumerate(paths)
        }
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.1)
            _drain(messages, progress)
            for future in sorted(done, key=pending.__getitem__):
                on_done(pending.pop(future), future.result())
        _drain(messages, progress)


def _drain(messages: Any, progress: _Progress) -> None:
    while True:
        try:
            kind, index, schedules, failures = messages.get_nowait()
        except queue.Empty:
            return
        if kind == "start":
            progress.start(index)
        else:
            progress.update(index, schedules, failures)


# -- explore -----------------------------------------------------------------------------------
def _select(paths: Sequence[str]) -> list[Scenario]:
    try:
        scenarios = discover(paths)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    if not scenarios:
        where = ", ".join(paths)
        raise UsageError(
            f"no scenario files (*.toml) in {where}; pass a directory of scenario files or a "
            "file, or run from the project root where scenarios/ is"
        )
    return sorted(scenarios, key=lambda s: (s.name, str(s.path)))


def _writable_dir(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a directory; pass a directory path")


def _cmd_explore(args: argparse.Namespace) -> int:
    paths = args.paths or [DEFAULT_SCENARIOS]
    if not args.paths and not Path(DEFAULT_SCENARIOS).is_dir():
        raise UsageError(
            "no scenarios/ directory here; run 'racesim explore' from the project root or pass "
            "scenario files or directories"
        )
    _writable_dir(args.report_dir, "--report-dir")
    if args.junit is not None and args.junit.is_dir():
        raise UsageError(f"--junit {args.junit} is a directory; pass a file path such as junit.xml")
    scenarios = _select(paths)
    shard = None
    if args.shard is not None:
        index, count = args.shard
        shard = f"{index}/{count}"
        scenarios = scenarios[index - 1 :: count]
    overrides = Overrides(
        strategy=args.strategy,
        max_schedules=args.max_schedules,
        time_budget=args.time,
        seed=args.seed,
        mode=args.mode,
        preemption_bound=args.preemption_bound,
    )
    results: dict[int, _report.ScenarioResult] = {}
    budgets = [args.max_schedules or s.explore_settings.max_schedules for s in scenarios]
    progress = _Progress([s.name for s in scenarios], budgets, args.workers)

    def done(index: int, data: dict[str, Any]) -> None:
        result = _report.result_from_json(data)
        results[index] = result
        _report.write_result(result, _report.scenario_directory(args.report_dir, result))
        progress.finish(index, result)

    try:
        _run_all([str(s.path) for s in scenarios], overrides, args.workers, done, progress)
    except ScenarioError as error:  # a file changed while the run was under way
        raise UsageError(str(error)) from None
    finally:
        progress.close()
    command = shlex.join(["racesim", *args.argv])
    run = _report.RunResult(
        command=command, results=tuple(results[i] for i in sorted(results)), shard=shard
    )
    index_page = _report.write_summary(run, args.report_dir)
    if args.junit is not None:
        _report.write_junit(run, args.junit)
    _print_summary(run, index_page, args.junit, to_stderr=args.json)
    if args.json:
        sys.stdout.write(_report.dumps(_report.run_to_json(run)))
    return OK if run.ok else NOT_AS_EXPECTED


def _print_summary(
    run: _report.RunResult, index_page: Path, junit: Path | None, *, to_stderr: bool
) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = _console(stderr=to_stderr)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, justify in (
        ("scenario", "left"),
        ("variant", "left"),
        ("expected", "left"),
        ("verdict", "left"),
        ("schedules", "right"),
        ("time", "right"),
        ("replay", "left"),
    ):
        if name == "replay":  # whole commands are printed under the table
            table.add_column(name, justify=justify, overflow="ellipsis", no_wrap=True)  # type: ignore[arg-type]
        else:
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for result in run.results:
        mark = "✓ " if result.matches else "✗ "
        table.add_row(
            Text(result.scenario.name),
            Text(result.scenario.variant),
            Text(result.scenario.expect),
            Text(mark + result.verdict, style="green" if result.matches else "bold red"),
            Text(f"{result.stats.schedules_run:,}"),
            Text(f"{result.stats.elapsed_seconds:.2f} s"),
            Text(result.replay_command, overflow="fold"),
        )
    _print_table(console, table)
    wrong = [r for r in run.results if not r.matches]
    schedules = sum(r.stats.schedules_run for r in run.results)
    seconds = sum(r.stats.elapsed_seconds for r in run.results)
    shard = f" (shard {run.shard})" if run.shard else ""
    lines = [
        f"{_count(len(run.results), 'scenario')}{shard}: {len(run.results) - len(wrong)} as "
        f"expected, {len(wrong)} not as expected; {_count(schedules, 'schedule')} in "
        f"{seconds:.1f} s",
    ]
    for result in wrong:
        lines.append(
            f"NOT as expected: {result.scenario.name} expected {result.scenario.expect}, "
            f"got {result.verdict}"
        )
    for result in run.results:
        if result.replay_command:
            lines.append(f"replay {result.scenario.name}: {result.replay_command}")
    for result in run.results:
        lines.extend(f"note {result.scenario.name}: {note}" for note in result.stats.notes)
    lines.append(f"reports: {_relative(index_page)}" + (f", JUnit: {junit}" if junit else ""))
    for line in lines:
        console.print(Text(line), soft_wrap=True)


# -- replay ------------------------------------------------------------------------------------
def _looks_like_file(target: str) -> bool:
    if target.startswith(("rs1.", "rs2.")):
        return False  # a token (and may be longer than a file name can be)
    return target.endswith(".toml") or os.sep in target or Path(target).is_file()


def _cmd_replay(args: argparse.Namespace) -> int:
    if _looks_like_file(args.target):
        return _replay_seed(args)
    if args.seed is not None or args.strategy is not None:
        raise UsageError(
            "--seed and --strategy replay a scenario file (racesim replay SCENARIO.toml --seed N);"
            " a token already holds the whole schedule: pass it alone"
        )
    token = args.target
    try:
        fingerprint, _ = split_token(token)
    except TokenError as error:
        raise UsageError(str(error)) from None
    if not args.scenarios.is_dir():
        replayed = _replay_pytest_token(token)
        if replayed is not None:
            return replayed
        raise UsageError(
            f"no scenario directory {args.scenarios}; run from the project root or pass "
            "--scenarios DIR where the token's scenario file is"
        )
    try:
        scenarios = discover([args.scenarios])
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    matching = [s for s in scenarios if s.fingerprint == fingerprint]
    if not matching:
        replayed = _replay_pytest_token(token)
        if replayed is not None:
            return replayed
        known = ", ".join(f"{s.name} ({s.fingerprint})" for s in scenarios) or "none"
        raise UsageError(
            f"the token belongs to no current scenario version in {args.scenarios}: it was "
            f"recorded for version {fingerprint}, and the versions there are {known}. The "
            "scenario file changed since (or lives elsewhere): run 'racesim explore' for a "
            "fresh token, or pass --scenarios DIR"
        )
    scenario = matching[0]
    fn, order = scenario.build()
    requires = order if order.rules else None
    try:
        run = replay(fn, token, requires=requires, races=scenario.explore_settings.races)
    except TokenError as error:
        raise UsageError(str(error)) from None
    except ReplayDivergence as error:
        raise UsageError(f"the token no longer fits scenario {scenario.name}: {error}") from None
    failure = run.failure
    command = _replay_command(scenario, token)
    return _show_replay(
        args, scenario, requires, failure, run.trace, token, command, f"token {token}"
    )


def _replay_pytest_token(token: str) -> int | None:
    """Tokens printed by a failing ``@pytest.mark.racesim`` test belong to that test, not to a
    scenario file: hand them to pytest (the plugin selects the test the token was recorded for).
    None when no collected test claims the token."""
    if not any(Path(name).exists() for name in ("pyproject.toml", "pytest.ini", "tox.ini")):
        return None
    command = [sys.executable, "-m", "pytest", "-q", "--racesim-replay", token]
    print(f"racesim: the token belongs to no scenario file; replaying it with {' '.join(command)}")
    status = subprocess.run(command, check=False).returncode
    if status in (0, 1):
        return status
    return None


def _replay_seed(args: argparse.Namespace) -> int:
    if args.seed is None:
        raise UsageError(
            f"replaying the scenario file {args.target} needs --seed N (the seed printed with a "
            "randomised failure); to replay a token, pass the token itself"
        )
    try:
        scenario = load_scenario(args.target)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    file = scenario.explore_settings
    strategy = args.strategy or (file.strategy if file.strategy in SEEDED else "random")
    if strategy not in SEEDED:
        raise UsageError(
            f"strategy {strategy} does not use a seed, so --seed cannot select a run; use "
            f"--strategy {' or '.join(s for s in SEEDED if s in NAMES)}, or replay a token"
        )
    fn, order = scenario.build()
    requires = order if order.rules else None
    result = explore(
        fn,
        strategy=strategy,
        max_schedules=1,
        seed=args.seed,
        preemption_bound=file.preemption_bound,
        requires=requires,
        mode=file.mode,
        races=file.races,
        max_failures=1,
        shrink=False,
        suppress_health_check=tuple(HealthCheck),  # one chosen run, by design
    )
    failure = result.failures[0] if result.failures else None
    token = failure.token if failure is not None else ""
    command = (
        f"racesim replay {shlex.quote(_relative(scenario.path))} --seed {args.seed} "
        f"--strategy {strategy}"
    )
    trace = failure.trace if failure is not None else None
    return _show_replay(
        args,
        scenario,
        requires,
        failure,
        trace,
        token,
        command,
        f"seed {args.seed} with strategy {strategy}",
    )


def _show_replay(
    args: argparse.Namespace,
    scenario: Scenario,
    requires: Any,
    failure: Failure | None,
    trace: Any,
    token: str,
    command: str,
    what: str,
) -> int:
    out = sys.stdout
    out.write(f"replaying {scenario.name} ({_relative(scenario.path)}), {what}\n")
    record = None
    if failure is not None:
        record = _report.FailureRecord.of(failure, requires, replay_command=command)
        out.write(f"\n[{failure.kind}] {failure.message}\n\n")
        out.write(record.table() + "\n")
        if record.bad_verdicts:
            out.write("\nviolated order:\n")
            for bad in record.bad_verdicts:
                where = f" [{bad.where}]" if bad.where else ""
                out.write(f"- {bad.status}: {bad.rule}{where}\n  {bad.explanation}\n")
        if failure.races:
            out.write("\ndata races:\n")
            for race in failure.races:
                out.write(f"- {race.explanation}\n")
        if failure.kind not in ("order", "race") and failure.details:
            out.write("\n" + failure.details.rstrip() + "\n")
        verdict = "failure reproduced"
    else:
        if trace is not None:
            out.write("\n" + render_trace(trace) + "\n")
        verdict = "passes now"
    matches = (failure is not None) == (scenario.expect != "clean")
    result = _report.ScenarioResult(
        command="replay",
        scenario=_info(scenario),
        settings={"replay": what, "mode": scenario.explore_settings.mode},
        verdict=verdict,
        matches=matches,
        stats=_report.Stats(
            schedules_run=1,
            exhausted=False,
            exit_reason="replay",
            exit_reason_text="replayed one recorded run",
            first_failure_at=0 if failure is not None else None,
            elapsed_seconds=0.0,
            distinct_orders=1,
            strategy="replay",
        ),
        order=tuple(rule.describe() for rule in requires.rules) if requires is not None else (),
        failure=record,
    )
    _writable_dir(args.report_dir, "--report-dir")
    directory = _report.scenario_directory(args.report_dir, result) / "replay"
    _report.write_result(result, directory)
    if failure is not None:
        out.write(
            f"\nthe failure reproduces (exit 1); report: {_relative(directory / _report.HTML_FILE)}\n"
        )
        return NOT_AS_EXPECTED
    out.write(
        "\nthe run passes now: the scenario follows the recorded schedule and no check fails "
        f"(exit 0); report: {_relative(directory / _report.HTML_FILE)}\n"
    )
    return OK


# -- list --------------------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    paths = args.paths or [DEFAULT_SCENARIOS]
    scenarios = _select(paths)
    console = _console()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("scenario", "variant", "expected", "explore", "description"):
        table.add_column(name)
    for scenario in scenarios:
        settings = scenario.explore_settings
        bound = "" if settings.preemption_bound is None else f", bound {settings.preemption_bound}"
        table.add_row(
            Text(scenario.name),
            Text(scenario.variant),
            Text(scenario.expect),
            Text(f"{settings.strategy}{bound}, ≤{settings.max_schedules:,}"),
            Text(scenario.description),
        )
    _print_table(console, table)
    reported = []
    for entry in paths:
        folder = Path(entry) / "reported"
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                try:
                    reported.append(load_reported(path))
                except ScenarioError as error:
                    raise UsageError(str(error)) from None
    if reported:
        races = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title="reported races")
        for name in ("reported", "scenario", "kind", "found with", "token"):
            races.add_column(name)
        for item in reported:
            races.add_row(
                Text(item.path.stem),
                Text(item.scenario.name),
                Text(item.kind),
                Text(f"{item.strategy}, seed {item.seed}"),
                Text(item.token, overflow="fold"),
            )
        _print_table(console, races)
    return OK


# -- report ------------------------------------------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    try:
        loaded = _report.load(args.json_file)
    except _report.ReportError as error:
        raise UsageError(str(error)) from None
    target = args.out if args.out is not None else args.json_file.parent
    _writable_dir(target, "--out")
    if isinstance(loaded, _report.RunResult):
        page = _report.write_index(loaded, target)
        sys.stdout.write(
            f"redrew {len(loaded.results)} scenario reports; index: {_relative(page)}\n"
        )
    else:
        written = _report.write_html(loaded, target)
        sys.stdout.write(f"redrew {_relative(written[0])}\n")
    return OK


# -- entry point -------------------------------------------------------------------------------
_COMMANDS = {
    "explore": _cmd_explore,
    "replay": _cmd_replay,
    "list": _cmd_list,
    "report": _cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``racesim`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        args.argv = argv
        return _COMMANDS[args.command](args)
    except UsageError as error:
        sys.stderr.write(f"racesim: error: {error}\n")
        return BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("racesim: interrupted\n")
        return 130
    except OSError as error:
        if error.filename is None:
            raise
        sys.stderr.write(
            f"racesim: error: {error.strerror or error} ({error.filename}); check that the path "
            "exists and is writable\n"
        )
        return BAD_INPUT
    except Exception:
        sys.stderr.write(traceback.format_exc())
        sys.stderr.write(
            "racesim: internal error in racesim — please report it with the traceback above\n"
        )
        return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
