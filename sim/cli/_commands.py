"""The commands: ``explore``, ``replay``, ``list`` and ``report``, each a function of the parsed
arguments returning the exit code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .. import _report, _settings
from .._database import DEFAULT_DIRECTORY as DEFAULT_DATABASE
from .._database import FailureDatabase
from .._explore import explore, replay
from .._health import HealthCheck
from .._render import render_trace
from .._scenario import (
    ExploreSettings,
    ScenarioError,
    add_import_root,
    discover,
    is_reported,
    is_target,
    load,
    load_reported,
    load_scenario,
)
from .._schedule import TokenError, split_token
from ..strategies import NAMES, ReplayDivergence
from ._parse import (
    DEFAULT_REPORTS,
    DEFAULT_SCENARIOS,
    INTERRUPTED,
    NOT_AS_EXPECTED,
    OK,
    OTHER_FAILURE,
    SEEDED,
    UsageError,
)
from ._printing import (
    _console,
    _info,
    _print_summary,
    _print_table,
    _relative,
    _replay_command,
    _where,
)
from ._progress import _Progress
from ._running import Interrupted, Overrides, _run_all

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from .._explore import Failure
    from .._scenario import Reported, Scenario


# -- the project -------------------------------------------------------------------------------
def _project() -> _settings.ProjectConfig:
    """``[tool.racesim]`` and the ``RACESIM_*`` variables, checked before anything runs; the
    working directory and the project root made importable for ``module:function`` targets."""
    try:
        project = _settings.project_config()
        _settings.env_values()
    except _settings.SettingsError as error:
        raise UsageError(str(error)) from None
    add_import_root(project.root)
    add_import_root(Path.cwd())
    return project


def _defaults(project: _settings.ProjectConfig) -> ExploreSettings:
    """The ``[explore]`` defaults of every scenario: built-in, then ``[tool.racesim]``."""
    base = ExploreSettings()
    values = {
        key: getattr(project, key)
        for key in ("strategy", "max_schedules", "seed", "preemption_bound", "mode", "max_failures")
        if getattr(project, key) is not None
    }
    return attrs.evolve(base, **values)


def _scenario_paths(given: Sequence[str], project: _settings.ProjectConfig) -> list[str]:
    if given:
        return list(given)
    if project.scenarios:
        return [str(project.root / entry) for entry in project.scenarios]
    if not Path(DEFAULT_SCENARIOS).is_dir():
        raise UsageError(
            "no scenarios/ directory here; run 'racesim explore' from the project root, pass "
            "scenario files, directories or module:function, or set scenarios = [...] under "
            "[tool.racesim] in pyproject.toml"
        )
    return [DEFAULT_SCENARIOS]


def _report_dir(given: Path | None, project: _settings.ProjectConfig) -> Path:
    if given is not None:
        return given
    if project.report_dir is not None:
        return project.root / project.report_dir
    return Path(DEFAULT_REPORTS)


def _select(
    paths: Sequence[str], defaults: ExploreSettings | None = None, pattern: str | None = None
) -> list[Scenario]:
    try:
        scenarios = discover(paths, defaults)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    if not scenarios:
        where = ", ".join(paths)
        raise UsageError(
            f"no scenario files (*.toml) in {where}; pass a directory of scenario files or a "
            "file, or run from the project root where scenarios/ is"
        )
    scenarios = _distinct_names(scenarios)
    if pattern is not None:
        scenarios = [s for s in scenarios if _selected(s, pattern)]
        if not scenarios:
            raise UsageError(
                f"-k {pattern!r} selects none of the scenarios; give a substring of a scenario "
                "name (see 'racesim list')"
            )
    return sorted(scenarios, key=lambda s: (s.name, s.spec))


def _selected(scenario: Scenario, pattern: str) -> bool:
    """``-k``: a case-insensitive substring of the name, or ``not SUBSTRING``."""
    negated = re.fullmatch(r"\s*not\s+(.+)", pattern)
    text = (negated[1] if negated else pattern).strip().lower()
    found = text in scenario.name.lower()
    return not found if negated else found


def _distinct_names(scenarios: list[Scenario]) -> list[Scenario]:
    """Two files with one stem (in different directories) are named by their relative paths, so
    their reports and rows never share a directory or a name."""
    counts: dict[str, int] = {}
    for scenario in scenarios:
        counts[scenario.name] = counts.get(scenario.name, 0) + 1
    return [
        attrs.evolve(scenario, name=_where(scenario).removesuffix(".toml"))
        if counts[scenario.name] > 1 and scenario.path is not None
        else scenario
        for scenario in scenarios
    ]


def _database(args: argparse.Namespace, project: _settings.ProjectConfig) -> FailureDatabase | None:
    if args.no_database or project.database is False:
        if args.failed_first or args.last_failed:
            raise UsageError(
                "--failed-first and --last-failed read the failure database; drop --no-database "
                "(or database = false in [tool.racesim])"
            )
        return None
    where = project.database if isinstance(project.database, str) else DEFAULT_DATABASE
    return FailureDatabase(project.root / where)


def _last_failed_first(
    args: argparse.Namespace, database: FailureDatabase | None, scenarios: list[Scenario]
) -> list[Scenario]:
    """``--failed-first``: last run's wrong verdicts run first; ``--last-failed``: only they (all
    scenarios when none was wrong, saying so). The table stays sorted by name either way."""
    if database is None or not (args.failed_first or args.last_failed):
        return scenarios
    failed = set(database.last_failed())
    first = [s for s in scenarios if s.spec in failed]
    if args.last_failed:
        if not first:
            sys.stderr.write("racesim: no verdict was wrong last time; running every scenario\n")
            return scenarios
        return first
    return first + [s for s in scenarios if s.spec not in failed]


def _writable_dir(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a directory; pass a directory path")


def _writable_file(path: Path, flag: str) -> None:
    """Check before the first schedule that ``path`` can be written (its directory created)."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory; pass a file path such as junit.xml")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise UsageError(
            f"{flag} {path} cannot be written ({error.strerror}); pass a path in a writable "
            "directory"
        ) from None
    if not existed:
        path.unlink()


def _cmd_explore(args: argparse.Namespace) -> int:
    project = _project()
    defaults = _defaults(project)
    paths = _scenario_paths(args.paths, project)
    report_dir = _report_dir(args.report_dir, project)
    _writable_dir(report_dir, "--report-dir")
    if args.junit is not None:
        _writable_file(args.junit, "--junit")
    scenarios = _select(paths, defaults, args.k)
    database = _database(args, project)
    scenarios = _last_failed_first(args, database, scenarios)
    shard = None
    if args.shard is not None:
        index, count = args.shard
        shard = f"{index}/{count}"
        scenarios = scenarios[index - 1 :: count]
        report_dir = report_dir / f"shard-{index}-of-{count}"
    try:
        staging = _report.stage(report_dir)
    except OSError as error:
        raise UsageError(
            f"--report-dir {report_dir} cannot be written ({error.strerror}); pass a writable "
            "directory"
        ) from None
    overrides = Overrides(
        strategy=args.strategy,
        max_schedules=args.max_schedules,
        time_budget=args.time if args.time is not None else project.layered("time_budget"),
        seed=args.seed,
        mode=args.mode,
        preemption_bound=args.preemption_bound,
        max_steps=project.layered("max_steps"),
        database=str(database.path) if database is not None else None,
        defaults=defaults,
        instrument=project.instrument,
    )
    results: dict[int, _report.ScenarioResult] = {}
    env_budget = _settings.env_values().get("max_schedules")
    budgets = [
        args.max_schedules or env_budget or s.explore_settings.max_schedules for s in scenarios
    ]
    progress = _Progress([s.name for s in scenarios], budgets, args.workers)

    def done(index: int, data: dict[str, Any]) -> bool:
        data["scenario"]["name"] = scenarios[index].name  # distinct, see _distinct_names
        result = _report.result_from_json(data)
        results[index] = result
        _report.write_result(result, _report.scenario_directory(staging, result))
        progress.finish(index, result)
        return not (args.x and result.matches is False)

    interrupted = False
    try:
        _run_all([s.spec for s in scenarios], overrides, args.workers, done, progress)
    except Interrupted:
        interrupted = True
    except ScenarioError as error:  # a file changed during the run, or a workload too large
        _report.discard(staging)
        raise UsageError(str(error)) from None
    finally:
        progress.close()
    command = shlex.join(["racesim", *args.argv])
    run = _report.RunResult(
        command=command,
        results=tuple(sorted(results.values(), key=lambda r: r.scenario.name)),
        shard=shard,
        interrupted=interrupted,
    )
    _report.write_summary(run, staging)
    _report.publish(staging, report_dir)
    index_page = report_dir / _report.INDEX_FILE
    if database is not None:
        wrong = {scenarios[i].spec for i, r in results.items() if r.matches is False}
        right = {scenarios[i].spec for i, r in results.items() if r.matches is not False}
        database.set_last_failed(sorted((set(database.last_failed()) - right) | wrong))
    if args.junit is not None:
        _report.write_junit(run, args.junit)
    _print_summary(run, index_page, args.junit, to_stderr=args.json)
    if args.json:
        sys.stdout.write(_report.dumps(_report.run_to_json(run)))
    if interrupted:
        tokens = " (their replay commands are above)" if run.results else ""
        sys.stderr.write(
            f"racesim: interrupted: {len(run.results)} of {len(scenarios)} scenarios finished"
            f"{tokens}; {_relative(index_page)} holds them, marked partial (exit {INTERRUPTED})\n"
        )
        return INTERRUPTED
    return OK if run.ok else NOT_AS_EXPECTED


# -- replay ------------------------------------------------------------------------------------
def _looks_like_file(target: str) -> bool:
    if target.startswith(("rs1.", "rs2.")):
        return False  # a token (and may be longer than a file name can be)
    return target.endswith(".toml") or os.sep in target or Path(target).is_file()


def _cmd_replay(args: argparse.Namespace) -> int:
    project = _project()
    if args.report_dir is None:
        args.report_dir = _report_dir(None, project)
    if args.token is not None:
        return _replay_named(args, args.target, args.token)
    if _looks_like_file(args.target):
        path = Path(args.target)
        if path.is_file() and is_reported(path):
            return _replay_reported(args, path)
        return _replay_seed(args)
    if is_target(args.target):
        raise UsageError(
            f"give the token after the target: racesim replay {args.target} rs1.… (the token "
            "printed with its failure)"
        )
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
            "--scenarios DIR where the token's scenario file is, or name the scenario first: "
            "racesim replay FILE|module:function TOKEN"
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
    return _replay_token(args, matching[0], token)


def _replay_named(args: argparse.Namespace, spec: str, token: str) -> int:
    if args.seed is not None or args.strategy is not None:
        raise UsageError("a token holds the whole schedule: drop --seed and --strategy")
    try:
        scenario = load(spec)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    return _replay_token(args, scenario, token)


def _replay_token(
    args: argparse.Namespace, scenario: Scenario, token: str, reported: Reported | None = None
) -> int:
    fn, order = scenario.build()
    requires = order if order.rules else None
    try:
        run = replay(fn, token, requires=requires, races=scenario.explore_settings.races)
    except TokenError as error:
        raise UsageError(str(error)) from None
    except ReplayDivergence as error:
        raise UsageError(f"the token no longer fits scenario {scenario.name}: {error}") from None
    if reported is not None:
        command = f"racesim replay {shlex.quote(_relative(reported.path))}"
    else:
        command = _replay_command(scenario, token)
    code = _show_replay(
        args,
        scenario,
        requires,
        run.failure,
        run.trace,
        token,
        command,
        f"token {token}",
        reported,
    )
    if run.report is not None:  # an rs2 token, followed by intent through changed code
        print(run.report.describe())
        if run.report.exit_code in (2, 4):  # cannot tell / a different failure
            return run.report.exit_code
    return code


def _replay_reported(args: argparse.Namespace, path: Path) -> int:
    if args.seed is not None or args.strategy is not None:
        raise UsageError(
            f"{path} is a reported race: it replays its own token; drop --seed and --strategy"
        )
    try:
        reported = load_reported(path)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    return _replay_token(args, reported.scenario, reported.token, reported)


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
            "randomised failure), or a token after it: racesim replay FILE TOKEN"
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
        f"racesim replay {shlex.quote(_where(scenario))} --seed {args.seed} --strategy {strategy}"
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
    reported: Reported | None = None,
) -> int:
    out = sys.stdout
    out.write(f"replaying {scenario.name} ({_where(scenario)}), {what}\n")
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
        if reported is not None and not reported.is_same(failure):
            verdict = "a different failure"
    else:
        if trace is not None:
            out.write("\n" + render_trace(trace) + "\n")
        verdict = "passes now"
    matches = (failure is not None) == (scenario.expect != "clean")
    if reported is not None:
        matches = failure is not None and reported.is_same(failure)
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
    page = _relative(directory / _report.HTML_FILE)
    if reported is not None and failure is not None and not reported.is_same(failure):
        out.write(
            f"\na different failure: {_relative(reported.path)} records a {reported.kind} "
            f"failure whose message contains {reported.message_contains!r}, and this run fails "
            f"with {failure.kind}: {failure.message} (exit {OTHER_FAILURE}); report: {page}\n"
        )
        return OTHER_FAILURE
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

    project = _project()
    paths = _scenario_paths(args.paths, project)
    scenarios = _select(paths, _defaults(project))
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
    reported: list[Reported] = []
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
                Text(item.strategy + ("" if item.seed is None else f", seed {item.seed}")),
                Text(item.token, overflow="fold"),
            )
        _print_table(console, races)
    return OK


# -- report ------------------------------------------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    loaded = []
    for path in args.json_files:
        try:
            loaded.append(_report.load(path))
        except _report.ReportError as error:
            raise UsageError(str(error)) from None
    if args.merge:
        return _merge(args, loaded)
    if len(loaded) > 1:
        raise UsageError("several JSON files given: pass one, or --merge to combine shard runs")
    target = args.out if args.out is not None else args.json_files[0].parent
    _writable_dir(target, "--out")
    one = loaded[0]
    if isinstance(one, _report.RunResult):
        page = _report.write_index(one, target)
        sys.stdout.write(f"redrew {len(one.results)} scenario reports; index: {_relative(page)}\n")
    else:
        written = _report.write_html(one, target)
        sys.stdout.write(f"redrew {_relative(written[0])}\n")
    return OK


def _merge(args: argparse.Namespace, loaded: list[Any]) -> int:
    runs = [item for item in loaded if isinstance(item, _report.RunResult)]
    if len(runs) != len(loaded):
        raise UsageError(
            "--merge combines run.json files (one per --shard run); a result.json holds one "
            "scenario: pass the shards' run.json"
        )
    if args.out is None:
        raise UsageError("--merge needs --out DIR, where the combined report goes")
    _writable_dir(args.out, "--out")
    try:
        run = _report.merge(runs, shlex.join(["racesim", *args.argv]))
    except _report.ReportError as error:
        raise UsageError(str(error)) from None
    staging = _report.stage(args.out)
    for result in run.results:
        _report.write_result(result, _report.scenario_directory(staging, result))
    _report.write_summary(run, staging)
    _report.publish(staging, args.out)
    page = args.out / _report.INDEX_FILE
    sys.stdout.write(
        f"merged {len(runs)} runs ({len(run.results)} scenarios); index: {_relative(page)}\n"
    )
    return OK if run.ok else NOT_AS_EXPECTED
