"""Parsing the command line: the exit codes, the defaults, and one argparse parser whose every
mistake becomes a :class:`UsageError` (one sentence, exit 2) instead of argparse's own exit."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ..strategies import NAMES

if TYPE_CHECKING:
    from collections.abc import Callable

OK, NOT_AS_EXPECTED, BAD_INPUT, INTERNAL, OTHER_FAILURE = 0, 1, 2, 3, 4
#: Ctrl-C: pytest's ExitCode.INTERRUPTED.
INTERRUPTED = 2
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


_EXIT_CODES = """exit codes:
  0  every verdict as expected (or "cannot tell": a race not found with changed settings);
     replay: the run passes now
  1  a verdict not as expected; replay: the failure reproduces
  2  bad input (one sentence says what to fix), a replay that cannot tell (too much drift),
     or interrupted by Ctrl-C (pytest's INTERRUPTED)
  3  internal error in racesim (please report it)
  4  replay: a different failure than the recorded one (a token or a reported race)"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"racesim {version('racesim')}"
    except PackageNotFoundError:
        return "racesim (not installed: running from a source tree)"


def _parser() -> _Parser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="racesim",
        description="Deterministic race-condition simulation for trio: explore the interleavings "
        "of your async code or of scenario files, replay failures exactly, and write reports.",
        epilog="examples:\n"
        "  racesim explore                               # scenarios/ (or [tool.racesim] scenarios)\n"
        "  racesim explore myapp.checks:two_writers      # an async function, no file needed\n"
        "  racesim replay rs1.…                          # a failure's token, exactly\n"
        "  racesim list\n\n" + _EXIT_CODES + "\n\n"
        "defaults come from [tool.racesim] in pyproject.toml; precedence: flags > RACESIM_* "
        "variables > a scenario file's [explore] > [tool.racesim] > built-in defaults",
        formatter_class=raw,
    )
    parser.add_argument(
        "--version", action="version", version=_version(), help="print the version and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    ex = commands.add_parser(
        "explore",
        help="explore scenarios and check every verdict against its expectation",
        description="Explore every scenario (default: [tool.racesim] scenarios, else scenarios/ "
        "in the current directory), print a summary table and write reports. Flags override each "
        "file's [explore] settings.",
        epilog="examples:\n"
        "  racesim explore scenarios/legacy_concurrent_creation.toml\n"
        "  racesim explore myapp.checks:two_writers --strategy dpor --max-schedules 5000\n"
        "  racesim explore --strategy pct --max-schedules 500 --seed 3 --workers 2\n"
        "  racesim explore --shard 1/2 --junit junit-1.xml\n\n" + _EXIT_CODES,
        formatter_class=raw,
    )
    ex.add_argument(
        "paths",
        nargs="*",
        metavar="PATH|MODULE:FUNCTION",
        help="scenario files, directories of them, reported-race files, or an async function "
        "as module:function (e.g. myapp.checks:two_writers)",
    )
    ex.add_argument(
        "--strategy", type=_strategy, help=f"one of {', '.join(NAMES)} (e.g. --strategy dpor)"
    )
    ex.add_argument(
        "--max-schedules",
        type=_at_least(1, "--max-schedules"),
        metavar="N",
        help="schedule budget per scenario (e.g. --max-schedules 5000)",
    )
    ex.add_argument(
        "--time",
        type=_seconds,
        metavar="SECONDS",
        help="time budget per scenario; stops exploring, never changes a schedule (e.g. --time 30)",
    )
    ex.add_argument(
        "--seed",
        type=_at_least(0, "--seed"),
        metavar="N",
        help="seed of the random, pct and pos strategies (e.g. --seed 3)",
    )
    ex.add_argument(
        "--mode",
        choices=("free", "batch"),
        help="free: a decision at every checkpoint; batch: trio's own batches (default: free)",
    )
    ex.add_argument(
        "--preemption-bound",
        type=_at_least(0, "--preemption-bound"),
        metavar="K",
        help="dfs/dpor: at most K preemptions per schedule (e.g. --preemption-bound 2)",
    )
    ex.add_argument(
        "--workers",
        type=_at_least(1, "--workers"),
        default=1,
        metavar="N",
        help="processes (results are the same for any N; e.g. --workers 2)",
    )
    ex.add_argument(
        "--shard",
        type=_shard,
        metavar="i/N",
        help="run only shard i of N, reports into DIR/shard-i-of-N (merge them with "
        "'racesim report --merge'; e.g. --shard 1/2)",
    )
    ex.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write JUnit XML here (e.g. junit.xml)"
    )
    ex.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help=f"where reports go (default: [tool.racesim] report_dir, else {DEFAULT_REPORTS}/)",
    )
    ex.add_argument("--json", action="store_true", help="print the run as JSON on stdout")
    ex.add_argument(
        "-k",
        dest="k",
        metavar="PATTERN",
        help="only scenarios whose name contains PATTERN (case-insensitive), or 'not PATTERN' "
        "(e.g. -k legacy)",
    )
    ex.add_argument(
        "--failed-first",
        action="store_true",
        help="run the scenarios whose verdict was wrong last time first, then the rest",
    )
    ex.add_argument(
        "--last-failed",
        action="store_true",
        help="run only the scenarios whose verdict was wrong last time (all if none was)",
    )
    ex.add_argument(
        "--no-database",
        action="store_true",
        help="neither replay nor store failures in the failure database (default: .racesim/ "
        "in the project root, [tool.racesim] database)",
    )
    ex.add_argument(
        "-x",
        "--exitfirst",
        dest="x",
        action="store_true",
        help="stop after the first verdict not as expected",
    )

    rp = commands.add_parser(
        "replay",
        help="re-run a failure exactly from its token, a reported-race file, or a seed",
        description="Replay a token against the scenario it was recorded for (found in "
        "--scenarios by its fingerprint, or named first: a file or module:function), a "
        "reported-race file's own token, or a scenario file's randomised run with --seed.",
        epilog="examples:\n"
        "  racesim replay rs1.…\n"
        "  racesim replay myapp.checks:two_writers rs1.…\n"
        "  racesim replay scenarios/reported/legacy_concurrent_creation.toml\n"
        "  racesim replay scenarios/x.toml --seed 7 --strategy random\n\n"
        "exit codes: 0 the run passes now; 1 the failure reproduces (for a reported file: the "
        "same kind and message); 2 bad input; 3 internal error; 4 a different failure",
        formatter_class=raw,
    )
    rp.add_argument(
        "target",
        metavar="TOKEN|SCENARIO",
        help="a token, a scenario or reported-race file, or module:function",
    )
    rp.add_argument(
        "token", nargs="?", metavar="TOKEN", help="the token, when a scenario is named first"
    )
    rp.add_argument(
        "--seed", type=_at_least(0, "--seed"), metavar="N", help="with a scenario file: e.g. 7"
    )
    rp.add_argument(
        "--strategy",
        type=_strategy,
        help=f"with --seed: one of {', '.join(SEEDED)} (e.g. --strategy random)",
    )
    rp.add_argument(
        "--scenarios",
        type=Path,
        default=Path(DEFAULT_SCENARIOS),
        metavar="DIR",
        help=f"where to look for the token's scenario (default: {DEFAULT_SCENARIOS}/)",
    )
    rp.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help=f"where the replay's report goes (default: {DEFAULT_REPORTS}/)",
    )

    ls = commands.add_parser(
        "list",
        help="list scenarios and reported races",
        epilog="example: racesim list scenarios/",
    )
    ls.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="scenario files or directories (default: [tool.racesim] scenarios, else scenarios/)",
    )

    rep = commands.add_parser(
        "report",
        help="regenerate HTML from a saved result.json or run.json, or merge shards",
        description="Redraw report.html (and hb.dot) from a saved JSON result without "
        "re-running anything, or combine the run.json files of --shard runs into one report.",
        epilog="examples:\n"
        "  racesim report reports/run.json\n"
        "  racesim report --merge reports/shard-1-of-2/run.json reports/shard-2-of-2/run.json "
        "--out reports",
        formatter_class=raw,
    )
    rep.add_argument(
        "json_files",
        type=Path,
        nargs="+",
        metavar="RUN.json",
        help="a result.json or run.json (several with --merge)",
    )
    rep.add_argument(
        "--merge", action="store_true", help="combine shard runs' run.json into one report"
    )
    rep.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write (default: next to the JSON)"
    )
    return parser
