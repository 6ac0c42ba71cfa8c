"""Every bound racesim applies, in one frozen value, with a documented environment override each.

The pattern is loom's ``model.rs`` builder: named defaults next to the reason for them, and an
environment variable per field so a CI job can explore harder without touching code. The
environment is read once per call of :func:`from_env`, never at import time, so tests can set it.

==========================  ======================================  =========
environment variable        field                                   default
==========================  ======================================  =========
``RACESIM_MAX_SCHEDULES``   :attr:`Settings.max_schedules`          1000
``RACESIM_MAX_STEPS``       :attr:`Settings.max_steps`              20000
``RACESIM_TIME``            :attr:`Settings.time_budget` (seconds)  none
``RACESIM_SHRINK_RUNS``     :attr:`Settings.shrink_runs`            300
``RACESIM_MAX_FAILURES``    :attr:`Settings.max_failures`           1
``RACESIM_EXTERNAL_WAIT``   :attr:`Settings.external_wait` (s)      10
==========================  ======================================  =========

Every value is checked where it is read: a variable that is not a number, or a bound that is not
positive, raises :class:`SettingsError` (a ``ValueError``) naming the variable and the fix, so the
command line turns it into one sentence and exit 2 before the first schedule runs.

**Project defaults.** ``[tool.racesim]`` in the nearest ``pyproject.toml`` (searched upwards from
the working directory, like pytest's rootdir) holds a project's defaults for the command line and
the pytest plugin: :func:`project_config` reads and validates it into a :class:`ProjectConfig`.
The layers, most specific first: command-line flags (or explicit arguments), ``RACESIM_*``
variables, a scenario file's ``[explore]``, ``[tool.racesim]``, the defaults below.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class Settings:
    #: Schedules one exploration may run before it stops with ``ExitReason.MAX_SCHEDULES``.
    max_schedules: int = 1000
    #: Steps of model tasks one run may take before it is reported as ``livelock`` (a runaway loop).
    max_steps: int = 20_000
    #: Wall-clock seconds for one exploration (None: no time limit). Only stops the loop, never
    #: changes what a schedule does, so results stay deterministic up to where it stopped.
    time_budget: float | None = None
    #: Runs the shrinker may spend minimising one failure.
    shrink_runs: int = 300
    #: Failures to collect before stopping (each one is shrunk and carries its own token).
    max_failures: int = 1
    #: Real seconds a run may wait, with nothing in the model able to run, for operations outside
    #: it (worker threads, I/O readiness, tasks outside the scenario) before it fails as
    #: ``stalled``. Long enough for real work in a thread; short enough that a hung thread is
    #: reported, not waited on forever.
    external_wait: float = 10.0


_ENV = {
    "max_schedules": ("RACESIM_MAX_SCHEDULES", int),
    "max_steps": ("RACESIM_MAX_STEPS", int),
    "time_budget": ("RACESIM_TIME", float),
    "shrink_runs": ("RACESIM_SHRINK_RUNS", int),
    "max_failures": ("RACESIM_MAX_FAILURES", int),
    "external_wait": ("RACESIM_EXTERNAL_WAIT", float),
}


#: The smallest value of each bound (``shrink_runs = 0`` turns shrinking off).
_MINIMUM = {"max_schedules": 1, "max_steps": 1, "shrink_runs": 0, "max_failures": 1}


class SettingsError(ValueError):
    """A bound that cannot be used: the message names where it came from and the fix."""


def _check(field: str, value: object, source: str) -> object:
    """``value`` for ``field`` if it is usable; else :class:`SettingsError` naming ``source``."""
    if field in ("time_budget", "external_wait"):
        if value is None and field == "time_budget":
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise SettingsError(
                f"{source}: the {field.replace('_', ' ')} must be a number of seconds > 0, got "
                f"{value!r}; "
                "give a positive number"
                + (" (or leave it unset for no time limit)" if field == "time_budget" else "")
            )
        return float(value)
    minimum = _MINIMUM[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingsError(
            f"{source}: {field} must be a whole number >= {minimum}, got {value!r}; "
            f"give a number >= {minimum}"
        )
    return value


def env_values() -> dict[str, Any]:
    """The ``RACESIM_*`` variables that are set, converted and checked, by field name."""
    values: dict[str, object] = {}
    for field, (variable, convert) in _ENV.items():
        raw = os.environ.get(variable)
        if raw is None or not raw.strip():
            continue
        try:
            value: object = convert(raw.strip())
        except ValueError:
            kind = "a whole number" if convert is int else "a number of seconds"
            raise SettingsError(
                f"{variable}={raw!r} is not {kind}; set it to one (for example "
                f"{variable}={'500' if convert is int else '30'}) or unset it"
            ) from None
        values[field] = _check(field, value, f"{variable}={raw.strip()}")
    return values


def from_env(**overrides: object) -> Settings:
    """Defaults, then ``RACESIM_*`` variables, then explicit ``overrides`` (None means "unset").

    Raises :class:`SettingsError` (a ``ValueError``) for a bound that is not a positive number,
    from the environment or from ``overrides`` alike (``time_budget=-1`` is an error, not a
    budget that has already run out)."""
    values = env_values()
    for key, value in overrides.items():
        if value is not None:
            values[key] = _check(key, value, f"{key}={value!r}")
    return Settings(**values)


# -- [tool.racesim] ---------------------------------------------------------------------------------
#: The file holding a project's ``[tool.racesim]`` table.
PROJECT_FILE = "pyproject.toml"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_PROJECT_KEYS = (
    "scenarios",
    "instrument",
    "strategy",
    "max_schedules",
    "seed",
    "preemption_bound",
    "mode",
    "time_budget",
    "max_steps",
    "max_failures",
    "report_dir",
    "database",
)


@attrs.frozen
class ProjectConfig:
    """A project's ``[tool.racesim]`` defaults; None (or empty) where the table does not set one."""

    path: Path | None = None  #: the pyproject.toml read (None: none found)
    scenarios: tuple[str, ...] = ()  #: scenario files or directories, relative to ``root``
    instrument: tuple[str, ...] = ()  #: packages and modules whose code is instrumented
    strategy: str | None = None
    max_schedules: int | None = None
    seed: int | None = None
    preemption_bound: int | None = None
    mode: str | None = None
    time_budget: float | None = None
    max_steps: int | None = None
    max_failures: int | None = None
    report_dir: str | None = None
    #: the failure database's directory; False turns it off (None: ``.racesim`` in the root)
    database: str | bool | None = None

    @property
    def root(self) -> Path:
        """The project root: the directory of the pyproject.toml (the working directory if none)."""
        return self.path.parent if self.path is not None else Path.cwd()

    def layered(self, field: str) -> Any:
        """``field`` from a ``RACESIM_*`` variable if one is set, else from this table (or None)."""
        env = env_values()
        return env[field] if field in env else getattr(self, field)


def find_project_file(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def project_config(start: Path | None = None) -> ProjectConfig:
    """``[tool.racesim]`` of the nearest pyproject.toml, validated; empty when there is none.

    Raises :class:`SettingsError` naming the file, the key and the fix."""
    path = find_project_file(start)
    if path is None:
        return ProjectConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(
            f"{path}: cannot read it ({exc}); save it as valid UTF-8 TOML"
        ) from None
    tool = data.get("tool", {})
    table = tool.get("racesim", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [tool.racesim] must be a table; write it as [tool.racesim]")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}: [tool.racesim] {key}"
        if key not in _PROJECT_KEYS:
            raise SettingsError(f"{where}: unknown key; valid keys are {', '.join(_PROJECT_KEYS)}")
        if key in ("scenarios", "instrument"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise SettingsError(
                    f'{where}: must be a list of non-empty strings, got {value!r}; write {key} = ["..."]'
                )
            if key == "instrument":
                check_module_names(value, where)
            values[key] = tuple(value)
        elif key in ("strategy", "mode", "report_dir"):
            if not isinstance(value, str) or not value:
                raise SettingsError(
                    f'{where}: must be a non-empty string, got {value!r}; write {key} = "..."'
                )
            values[key] = value
        elif key == "database":
            if value is not False and not (isinstance(value, str) and value):
                raise SettingsError(
                    f'{where}: must be a directory (database = ".racesim") or false, got {value!r}'
                )
            values[key] = value
        elif key in ("seed", "preemption_bound"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SettingsError(f"{where}: must be a whole number >= 0, got {value!r}")
            values[key] = value
        else:
            values[key] = _check(key, value, where)
    if values.get("mode") not in (None, "free", "batch"):
        raise SettingsError(
            f"{path}: [tool.racesim] mode: use 'free' or 'batch', not {values['mode']!r}"
        )
    if "strategy" in values:
        from .strategies import NAMES

        if values["strategy"] not in NAMES:
            raise SettingsError(
                f"{path}: [tool.racesim] strategy: unknown strategy {values['strategy']!r}; "
                f"use one of {', '.join(NAMES)}"
            )
    return ProjectConfig(path=path, **values)


def check_module_names(names: list[str] | tuple[str, ...], where: str) -> None:
    """Raise :class:`SettingsError` unless every name is a dotted module or package name."""
    for name in names:
        if not _MODULE_NAME.fullmatch(name):
            raise SettingsError(
                f"{where}: {name!r} is not a module or package name; write dotted names such "
                'as "myapp" or "myapp.cache"'
            )
