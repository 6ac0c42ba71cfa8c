"""The failure database: failures found before are replayed first, as Hypothesis replays its
examples database before it generates anything new.

A failure is stored as its token under the fingerprint of the scenario version it was found in
(``DIR/failures/<fingerprint>.json``, a small JSON list of ``{token, kind, message}``), so a
changed scenario never replays a stale token: its fingerprint differs and the entries are not
found. An entry is deleted when its token no longer reproduces a failure (the bug was fixed) or no
longer fits the code (the token diverges), so the database holds only what still fails. The
command line also records which scenarios' verdicts were not as expected in the last run
(``DIR/lastfailed.json``) for ``--failed-first`` and ``--last-failed``.

The directory (``.racesim/`` in the project root by default, ``[tool.racesim] database`` to move
it) writes a ``.gitignore`` of ``*`` into itself, as pytest's cache does, so it is ignored by git
without an entry in the project's own ``.gitignore``. Writes replace files whole (write a
temporary file, then rename), so two processes storing failures of different scenarios never
corrupt each other's entries; a damaged file reads as empty, never as an error: the database is a
cache of what to try first, and losing it only costs schedules.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from pathlib import Path

#: The directory name in the project root.
DEFAULT_DIRECTORY = ".racesim"


@attrs.frozen
class StoredFailure:
    """A failure as the database keeps it."""

    token: str
    kind: str
    message: str


@attrs.frozen
class FailureDatabase:
    """Tokens of failures by scenario fingerprint, and the scenarios that failed last time."""

    path: Path

    def _failures_file(self, fingerprint: str) -> Path:
        return self.path / "failures" / f"{fingerprint}.json"

    def _read(self, file: Path) -> Any:
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write(self, file: Path, data: Any) -> None:
        file.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# racesim's failure database: a local cache\n*\n", "utf-8")
        temporary = file.with_name(f".{file.name}.{os.getpid()}")
        temporary.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
        temporary.replace(file)

    def failures(self, fingerprint: str) -> list[StoredFailure]:
        """The stored failures of a scenario version, oldest first."""
        data = self._read(self._failures_file(fingerprint))
        if not isinstance(data, list):
            return []
        found = []
        for entry in data:
            if isinstance(entry, dict) and all(
                isinstance(entry.get(key), str) for key in ("token", "kind", "message")
            ):
                found.append(StoredFailure(entry["token"], entry["kind"], entry["message"]))
        return found

    def save(self, fingerprint: str, failure: StoredFailure) -> None:
        """Store ``failure`` (once per token)."""
        stored = self.failures(fingerprint)
        if any(item.token == failure.token for item in stored):
            return
        self._write(
            self._failures_file(fingerprint), [attrs.asdict(item) for item in (*stored, failure)]
        )

    def delete(self, fingerprint: str, token: str) -> None:
        """Forget a token that no longer reproduces a failure."""
        stored = self.failures(fingerprint)
        kept = [item for item in stored if item.token != token]
        if len(kept) == len(stored):
            return
        file = self._failures_file(fingerprint)
        if kept:
            self._write(file, [attrs.asdict(item) for item in kept])
        else:
            file.unlink(missing_ok=True)

    def last_failed(self) -> list[str]:
        """The scenarios (as named on the command line) whose verdict was wrong last time."""
        data = self._read(self.path / "lastfailed.json")
        return [item for item in data if isinstance(item, str)] if isinstance(data, list) else []

    def set_last_failed(self, specs: list[str]) -> None:
        self._write(self.path / "lastfailed.json", sorted(set(specs)))
