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
"""

from __future__ import annotations

import os

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


def from_env(**overrides: object) -> Settings:
    """Defaults, then ``RACESIM_*`` variables, then explicit ``overrides`` (None means "unset")."""
    values: dict[str, object] = {}
    for field, (variable, convert) in _ENV.items():
        raw = os.environ.get(variable)
        if raw is not None and raw.strip():
            try:
                values[field] = convert(raw)
            except ValueError:
                raise ValueError(
                    f"{variable}={raw!r} is not a valid {convert.__name__}; "
                    f"unset it or give a number"
                ) from None
    values.update({key: value for key, value in overrides.items() if value is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    for field in ("max_schedules", "max_steps", "shrink_runs", "max_failures"):
        if getattr(settings, field) < (0 if field == "shrink_runs" else 1):
            raise ValueError(f"{field} must be a positive number, got {getattr(settings, field)}")
    if not settings.external_wait > 0:
        raise ValueError(f"external_wait must be a positive number, got {settings.external_wait}")
    return settings
