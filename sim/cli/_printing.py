"""Printing: the console, tables without trailing padding in logs, paths relative to where the user
stands, the replay commands a result carries, and the summary at the end of ``racesim explore``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _report
from ._parse import DEFAULT_SCENARIOS

if TYPE_CHECKING:
    from rich.console import Console

    from .._explore import Failure
    from .._scenario import Scenario


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


def _where(scenario: Scenario) -> str:
    """The scenario as the user names it: its file relative to here, or its target."""
    return _relative(scenario.path) if scenario.path is not None else scenario.target


def _replay_command(scenario: Scenario, token: str) -> str:
    if scenario.path is None:
        return f"racesim replay {scenario.target} {token}"
    command = f"racesim replay {token}"
    directory = _relative(scenario.path.parent)
    if Path(directory) != Path(DEFAULT_SCENARIOS):
        command += f" --scenarios {shlex.quote(directory)}"
    return command


def _seed_command(scenario: Scenario, failure: Failure) -> str:
    if failure.seed is None:
        return ""
    path = shlex.quote(_where(scenario))
    return f"racesim replay {path} --seed {failure.seed} --strategy {failure.strategy}"


def _info(scenario: Scenario) -> _report.ScenarioInfo:
    return _report.ScenarioInfo(
        name=scenario.name,
        path=_where(scenario),
        description=scenario.description,
        system=scenario.system,
        variant=scenario.variant,
        workload=scenario.workload_dict,
        expect=scenario.expect,
        fingerprint=scenario.fingerprint,
    )


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
        mark, style = {True: ("✓ ", "green"), False: ("✗ ", "bold red"), None: ("? ", "yellow")}[
            result.matches
        ]
        table.add_row(
            Text(result.scenario.name),
            Text(result.scenario.variant),
            Text(result.scenario.expect),
            Text(mark + result.verdict, style=style),
            Text(f"{result.stats.schedules_run:,}"),
            Text(f"{result.stats.elapsed_seconds:.2f} s"),
            Text(result.replay_command, overflow="fold"),
        )
    _print_table(console, table)
    wrong = [r for r in run.results if r.matches is False]
    unknown = [r for r in run.results if r.matches is None]
    schedules = sum(r.stats.schedules_run for r in run.results)
    seconds = sum(r.stats.elapsed_seconds for r in run.results)
    shard = f" (shard {run.shard})" if run.shard else ""
    right = len(run.results) - len(wrong) - len(unknown)
    cannot = f", {len(unknown)} cannot tell" if unknown else ""
    lines = [
        f"{_count(len(run.results), 'scenario')}{shard}: {right} as expected, {len(wrong)} not "
        f"as expected{cannot}; {_count(schedules, 'schedule')} in {seconds:.1f} s",
    ]
    for result in unknown:
        lines.append(
            f"cannot tell: {result.scenario.name}: {result.verdict} with "
            f"{result.settings.get('strategy', result.stats.strategy)} (stopped: "
            f"{result.stats.exit_reason_text}); its own settings, dfs or dpor decide it"
        )
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
