"""Resumable explorations: the state of ``explore`` between two schedules, in a file.

An exploration is a loop over executions whose only state is the strategy (the DFS stack, DPOR's
exploration tree with its wake-up trees and sleep sets, a sampler's execution counter and
estimates) and the loop's own books (schedules run, failures found and their keys, the digests of
distinct step orders, when the first failure came). Between two schedules all of it is plain
Python data, so a checkpoint is that state pickled, behind a header that says which exploration it
belongs to. Strategies need no serialisation code of their own: whatever a strategy keeps is
saved as it is, which is what makes "an exploration cut into any number of resumed pieces runs
exactly the schedules, and reports exactly the failures and tokens, of an uninterrupted one" true
by construction rather than by a second description of each strategy's state.

When it is written: when the exploration stops for any reason (budget, time, failure limit,
exhausted), and every :data:`SAVE_EVERY` seconds in between, always between two schedules, by
writing a temporary file and renaming it over the old one — an interrupted or killed process
leaves the previous checkpoint intact and loses at most that many seconds of work.

The header names the scenario (:func:`sim._anchor.identity_of`) and every setting that changes
which schedules run (strategy, seed, preemption bound, mode, time exploration, data races,
required order, step budget); a checkpoint of another exploration is refused with
:class:`CheckpointMismatch` instead of resuming something else. ``max_schedules`` counts the whole
exploration across pieces, ``time_budget`` each piece. A checkpoint is a pickle: load only files
you wrote (as with any pickle).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Seconds between two checkpoints of a running exploration.
SAVE_EVERY = 30.0
#: The format of the file; another version is refused.
FORMAT = "racesim-checkpoint-1"
#: The recursion limit while pickling (DPOR's wake-up trees nest one level per step).
_RECURSION = 50_000


class CheckpointMismatch(ValueError):
    """The checkpoint file belongs to another exploration, or is not a racesim checkpoint."""


@attrs.define(eq=False)
class Progress:
    """The loop state of ``explore`` between two schedules."""

    strategy: Any
    failures: list[Any]
    seen_keys: set[tuple[str, str]]
    orders: set[bytes]
    schedules: int
    first_failure_at: int | None
    elapsed: float  #: seconds spent in earlier pieces
    #: after a data race, the schedule count where the look for the scenario's own failure stops
    #: (see ``sim._explore.RACE_LOOK_AHEAD``)
    look_ahead: int | None = None


def key_of(**settings: object) -> str:
    """The text a checkpoint must match: every setting that decides which schedules run."""
    return "; ".join(f"{name}={settings[name]!r}" for name in sorted(settings))


@contextlib.contextmanager
def _deep() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _RECURSION))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def load(path: str | os.PathLike[str], key: str) -> Progress | None:
    """The progress saved in ``path`` for the exploration ``key``; None when there is no file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        with _deep():
            saved = pickle.loads(raw)
    except Exception:
        raise CheckpointMismatch(
            f"{path} is not a racesim checkpoint (or it is damaged); delete it or pass another "
            "file to start a new exploration"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise CheckpointMismatch(
            f"{path} is not a checkpoint this racesim writes; delete it or pass another file"
        )
    if saved["key"] != key:
        raise CheckpointMismatch(
            f"{path} belongs to another exploration ({saved['key']}), not this one ({key}); "
            "resume with the same scenario and settings, or pass another file"
        )
    progress: Progress = saved["progress"]
    return progress


def save(path: str | os.PathLike[str], key: str, progress: Progress) -> None:
    """Write ``progress`` to ``path`` atomically (a temporary file renamed over it)."""
    path = Path(path)
    with _deep():
        raw = pickle.dumps({"format": FORMAT, "key": key, "progress": progress}, protocol=5)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(raw)
    os.replace(partial, path)
