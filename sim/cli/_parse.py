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
