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

import sys
import traceback
from typing import TYPE_CHECKING

from ._commands import _cmd_explore, _cmd_list, _cmd_replay, _cmd_report
from ._parse import BAD_INPUT, INTERNAL, UsageError, _parser
from ._running import Overrides as Overrides
from ._running import expectation as expectation
from ._running import explore_scenario as explore_scenario

if TYPE_CHECKING:
    from collections.abc import Sequence

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
