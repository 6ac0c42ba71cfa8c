"""What a decision means, and what code a run ran: the anchors that let a token survive a fix.

A decision by index ("the second runnable task") means nothing once the code changes. A decision
by *intent* is "run task ``reconnect-u1``, which waits at ``manager.py:104``, ``await
trio.sleep(0)`` in ``add_connection``". This module computes those anchors from a live run:

- :func:`current_sites` maps each runnable model task to its :class:`Site`: the innermost user
  frame it is suspended in. A site's ``key`` hashes the file's base name, the function's
  qualified name and the *text* of the line, never the line number: an edit elsewhere in the file
  moves the line (the drift report says so) without changing what the decision means.
- :class:`CodeCollector` records the code objects of user files a run entered (``sys.setprofile``
  for the length of one run: the token-sealing run and replays, never exploration), and
  :func:`code_table` hashes the code of each of those files (compiled, line numbers left out, so
  moving code is not changing it): the token's fingerprint covers the code the scenario *ran*,
  and a replay names the files that changed since — the system's, or the scenario's own.
- :func:`identity_of` is what a token must match to be replayed at all: the scenario's name and
  parameters (closure values, defaults, ``functools.partial`` arguments) — so ``make(1)`` and
  ``make(5)`` never share a token — or the identity a scenario file or the pytest plugin attached.

Everything is derived from names, text and values, never ``id()`` or ``hash()``, so anchors are
the same in every process.
"""

from __future__ import annotations

import functools
import hashlib
import linecache
import os
import re
import sys
import sysconfig
import types
from typing import TYPE_CHECKING, Any

import attrs
from trio._core import _run as trio_run

from ._control import _is_user_file
from ._schedule import UNKNOWN, Site

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def _hash(text: str, size: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")


def site_of(code: types.CodeType, line: int) -> Site:
    name = os.path.basename(code.co_filename)
    text = linecache.getline(code.co_filename, line).strip()
    return Site(name, line, _hash(f"{name}\0{code.co_qualname}\0{text}", 3) or 1)


def task_site(task: Any) -> Site:
    """The site of the innermost user frame ``task`` is suspended in."""
    found: tuple[types.CodeType, int] | None = None
    coro = task.coro
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        if _is_user_file(frame.f_code.co_filename):
            found = (frame.f_code, frame.f_lineno)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return UNKNOWN if found is None else site_of(*found)


def current_sites(candidates: Iterable[int]) -> dict[int, Site]:
    """Sites of the runnable model tasks ``candidates`` (ids), read while the controlled run is
    deciding (from a strategy's ``choose``). The clock pseudo-candidate (-1) and link
    deliveries have no site."""
    gate: Any = trio_run.GLOBAL_RUN_CONTEXT.runner.runq  # sim._control's Gate, during a run
    tasks = gate._controller.tasks  # the run's model tasks by id
    return {
        task: task_site(tasks[task]) if task >= 0 and hasattr(tasks[task], "coro") else UNKNOWN
        for task in candidates
    }  # a delivery or break of an in-memory link (sim._streams) is a pseudo-task: no site


# -- the code a run ran ---------------------------------------------------------------------------
_LIBRARY_DIRS = tuple(
    {
        os.path.join(path, "")
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
)
_PROJECT_FILES: dict[str, bool] = {}


def _is_project_file(filename: str) -> bool:
    """A user file that belongs to the project: not racesim, trio, the standard library, an
    installed package, or generated code (``<attrs generated ...>``)."""
    known = _PROJECT_FILES.get(filename)
    if known is None:
        known = _PROJECT_FILES[filename] = (
            _is_user_file(filename)
            and not filename.startswith("<")
            and not filename.startswith(_LIBRARY_DIRS)
        )
    return known


class CodeCollector:
    """``with CodeCollector() as ran:`` — ``ran.codes`` are the user code objects entered."""

    def __init__(self) -> None:
        self.codes: set[types.CodeType] = set()
        self._previous: Any = None

    def _profile(self, frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call":
            code = frame.f_code
            if code not in self.codes and _is_project_file(code.co_filename):
                self.codes.add(code)

    def __enter__(self) -> CodeCollector:
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(self._previous)


def _code_digest(code: types.CodeType) -> str:
    consts = [
        _code_digest(const) if isinstance(const, types.CodeType) else repr(const)
        for const in code.co_consts
    ]
    parts = [code.co_qualname, code.co_code.hex(), *consts, *code.co_names, *code.co_varnames]
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()


_FILE_DIGESTS: dict[tuple[str, str], str] = {}


def _file_digest(filename: str, ran: list[types.CodeType]) -> str:
    """The code of a whole file (compiled from its current source, line numbers left out), or of
    the code objects that ran from it when its source cannot be read."""
    source = "".join(linecache.getlines(filename))
    key = (filename, hashlib.blake2b(source.encode(), digest_size=16).hexdigest())
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        try:
            digest = _code_digest(compile(source, filename, "exec", dont_inherit=True))
        except (SyntaxError, ValueError):
            digest = "\0".join(sorted(_code_digest(code) for code in ran))
        if source:
            _FILE_DIGESTS[key] = digest
    return digest


#: One entry per user file a run entered: (1-byte hash of the base name, 2-byte hash of its code).
CodeTable = tuple[tuple[int, int], ...]


def code_table(codes: Iterable[types.CodeType]) -> tuple[CodeTable, dict[int, str]]:
    """Per file the run entered, the hash of the file's code (sorted by name hash), and the file
    names behind the name hashes. A file counts by its base name (files of one name merge)."""
    per_file: dict[str, dict[str, list[types.CodeType]]] = {}
    for code in codes:
        per_file.setdefault(os.path.basename(code.co_filename), {}).setdefault(
            code.co_filename, []
        ).append(code)
    names: dict[int, str] = {}
    digests: dict[int, list[str]] = {}
    for name, files in sorted(per_file.items()):
        name_hash = _hash(name, 1)  # two names with one hash share an entry
        names[name_hash] = f"{names[name_hash]} or {name}" if name_hash in names else name
        digests.setdefault(name_hash, []).extend(_file_digest(p, ran) for p, ran in files.items())
    table = [(n, _hash("\0".join(sorted(d)), 2)) for n, d in digests.items()]
    return tuple(sorted(table)), names


@attrs.frozen
class CodeChanges:
    """How the code a run ran differs from the code recorded in a token."""

    changed: tuple[str, ...] = ()  #: files that ran then and now, with other code
    added: tuple[str, ...] = ()  #: files that run now and did not then
    gone: int = 0  #: files that ran then and do not run now (names not in the token)

    @property
    def any(self) -> bool:
        return bool(self.changed or self.added or self.gone)

    def describe(self) -> str:
        if not self.any:
            return "the code the scenario runs is unchanged since the token was recorded"
        parts = []
        if self.changed:
            parts.append(f"changed: {', '.join(self.changed)}")
        if self.added:
            parts.append(f"runs now and did not then: {', '.join(self.added)}")
        if self.gone:
            parts.append(f"{self.gone} file(s) that ran then do not run now")
        return "the code changed since the token was recorded (" + "; ".join(parts) + ")"


def compare_code(recorded: CodeTable, now: CodeTable, names: dict[int, str]) -> CodeChanges:
    before = dict(recorded)
    after = dict(now)
    changed = sorted(names[n] for n in after if n in before and before[n] != after[n])
    added = sorted(names[n] for n in after if n not in before)
    gone = sum(1 for n in before if n not in after)
    return CodeChanges(tuple(changed), tuple(added), gone)


# -- the scenario's identity ----------------------------------------------------------------------
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _canonical(value: object, depth: int = 0) -> str:
    """A process-independent text of a parameter value (no ids, no hash order)."""
    if depth > 6:
        return "…"
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return repr(value)
    if isinstance(value, tuple | list):
        inner = ",".join(_canonical(item, depth + 1) for item in value)
        return f"{type(value).__name__}({inner})"
    if isinstance(value, set | frozenset):
        return f"set({','.join(sorted(_canonical(item, depth + 1) for item in value))})"
    if isinstance(value, dict):
        items = sorted(
            f"{_canonical(k, depth + 1)}:{_canonical(v, depth + 1)}" for k, v in value.items()
        )
        return f"dict({','.join(items)})"
    if isinstance(value, functools.partial):
        return f"partial({_canonical(value.func, depth + 1)},{_canonical(value.args, depth + 1)},{_canonical(value.keywords, depth + 1)})"
    if isinstance(value, types.FunctionType | types.MethodType | type | types.ModuleType):
        name = getattr(value, "__qualname__", getattr(value, "__name__", ""))
        return f"{getattr(value, '__module__', '')}.{name}"
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
        return f"{type(value).__qualname__}{_canonical(fields, depth + 1)}"
    text = repr(value)
    if _ADDRESS.search(text):  # the default repr: only the type is stable
        return type(value).__qualname__
    return text


def identity_of(scenario: Callable[..., Any]) -> str:
    """The scenario's identity in tokens: an attached ``__racesim_fingerprint__`` (scenario
    files, pytest tests), else a hash of its qualified name and parameters."""
    explicit = getattr(scenario, "__racesim_fingerprint__", None)
    if explicit:
        return str(explicit)
    parts = [f"{getattr(scenario, '__module__', '')}.{getattr(scenario, '__qualname__', '')}"]
    target = scenario
    if isinstance(scenario, functools.partial):
        parts.append(_canonical(scenario))
        target = scenario.func
    for cell in getattr(target, "__closure__", None) or ():
        try:
            parts.append(_canonical(cell.cell_contents))
        except ValueError:  # an empty cell
            parts.append("<empty>")
    parts.append(_canonical(getattr(target, "__defaults__", None)))
    parts.append(_canonical(getattr(target, "__kwdefaults__", None)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


# -- what failed ----------------------------------------------------------------------------------
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def failure_signature(kind: str, message: str, races: tuple[Any, ...] = ()) -> int:
    """A 4-byte hash of what failed: the kind and the message with numbers masked (line numbers,
    counts and object numbers move with unrelated edits; the words of the message do not); for
    a data race, the attribute and the two access kinds (its message names step ends, which
    move with any edit)."""
    if kind == "race" and races:
        first = races[0]
        text = f"{first.first.attr}:{first.first.kind}/{first.second.kind}"
        text = f"{_NUMBERS.sub('#', first.first.obj)}.{text}"
    else:
        text = _NUMBERS.sub("#", message)
    return _hash(f"{kind}\0{text}", 4)
