"""The commands: ``explore``, ``replay``, ``list`` and ``report``, each a function of the parsed
arguments returning the exit code."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _report
from .._explore import explore, replay
from .._render import render_trace
from .._scenario import ScenarioError, discover, load_reported, load_scenario
from .._schedule import TokenError, split_token
from ..strategies import NAMES, ReplayDivergence
from ._parse import (
    DEFAULT_SCENARIOS,
    NOT_AS_EXPECTED,
    OK,
    SEEDED,
    UsageError,
)
from ._printing import _console, _info, _print_summary, _print_table, _relative, _replay_command
from ._progress import _Progress
from ._running import Overrides, _run_all

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from .._explore import Failure
    from .._scenario import Scenario


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


# -- replay ------------------------------------------------------------------------------------
def _looks_like_file(target: str) -> bool:
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
    matches = (failure is not None) == (scenario.expect == "race")
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
