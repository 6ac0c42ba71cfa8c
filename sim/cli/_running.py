"""Running: one scenario explored with its settings (also the worker function of ``--workers``),
and the loop that spreads scenarios over processes and collects their results in order."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import queue
import signal
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .. import _report, _settings
from .._database import FailureDatabase, StoredFailure
from .._explore import ExitReason, Result, explore, replay
from .._health import HealthCheckWarning
from .._scenario import ExploreSettings, ScenarioError, load
from .._schedule import TokenError
from ..strategies import ReplayDivergence, resolve
from ._parse import PROGRESS_INTERVAL
from ._printing import _info, _replay_command, _seed_command

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._explore import Failure
    from .._scenario import Scenario
    from ._progress import _Progress


@attrs.frozen
class Overrides:
    """The command-line flags that override a file's [explore] settings (None: the file's)."""

    strategy: str | None = None
    max_schedules: int | None = None
    time_budget: float | None = None
    seed: int | None = None
    mode: str | None = None
    preemption_bound: int | None = None
    #: ``[explore]`` values a scenario file does not set: the project's ``[tool.racesim]``.
    defaults: ExploreSettings = attrs.field(factory=ExploreSettings)
    #: Packages the project instruments (``[tool.racesim] instrument``), besides a file's own.
    instrument: tuple[str, ...] = ()
    #: Steps per run: ``RACESIM_MAX_STEPS`` or ``[tool.racesim] max_steps`` (None: the default).
    max_steps: int | None = None
    #: The failure database's directory (None: ``--no-database``).
    database: str | None = None


def _explore(fn: Any, instrument: tuple[str, ...], **kwargs: Any) -> Result:
    """``sim.explore`` — the one place the CLI calls it, with the project's ``instrument`` list;
    health checks are printed as notes under the table, not raised as warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HealthCheckWarning)
        return explore(fn, instrument=instrument, **kwargs)


def expectation(
    scenario: Scenario, result: Result, promised: bool, calibrated: bool = True
) -> tuple[str, bool | None, Failure | None]:
    """``(verdict, as expected, the failure to report)`` for a scenario's exploration.

    A race scenario explored with its file's own settings (``calibrated``: deterministic, and
    chosen to find its race) is wrong when the race is not found. Explored with other settings
    (a flag or ``RACESIM_*`` changed the strategy, seed or budget), an exploration that did not
    exhaust the space and did not find the expected race has not shown the scenario wrong: "as
    expected" is None — it cannot tell, and says so (exit 0, a "?" in the table)."""
    failures = result.failures
    if scenario.expect != "clean":
        wanted = scenario.expect_failure
        for failure in failures:
            if wanted is None or wanted.matches(failure):
                return (_found(failure), True, failure)
        undecided = not result.exhausted and not calibrated
        budget = f"{result.schedules_run:,} schedule{'' if result.schedules_run == 1 else 's'}"
        if not failures:
            if undecided:
                return (f"not found within {budget}", None, None)
            what = "no unawaited coroutine" if scenario.expect == "unawaited" else "no race"
            return (f"{what} found" + (" (exhausted)" if result.exhausted else ""), False, None)
        expected = wanted.describe() if wanted is not None else "a failure"
        if undecided:
            return (
                f"other failure ({failures[0].kind}); {expected} not found within {budget}",
                None,
                failures[0],
            )
        return (f"other failure ({failures[0].kind}; expected {expected})", False, failures[0])
    if failures:
        return (_found(failures[0]), False, failures[0])
    if result.exhausted:
        return ("clean", True, None)
    return ("clean (not exhausted)", not promised, None)


def _found(failure: Failure) -> str:
    if failure.kind == "unawaited":
        return "unawaited coroutine found"
    return f"race found ({failure.kind})"


_progress_queue: Any = None


def _init_worker(progress: Any) -> None:
    global _progress_queue
    _progress_queue = progress
    # Ctrl-C reaches the whole process group; the parent alone handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _queue_progress(index: int) -> Callable[[int, int], None]:
    last = 0.0

    def report(schedules: int, failures: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL:
            last = now
            _progress_queue.put(("progress", index, schedules, failures))

    return report


def explore_scenario(
    spec: str,
    overrides: Overrides,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Explore one scenario (a file, or a ``module:function`` target) with its settings and
    ``overrides``; its result as JSON. Precedence: flags > ``RACESIM_*`` > the file's [explore] >
    ``[tool.racesim]`` > defaults."""
    scenario = load(spec, overrides.defaults)
    file = scenario.explore_settings
    env = _settings.env_values()
    strategy = overrides.strategy or file.strategy
    seed = file.seed if overrides.seed is None else overrides.seed
    bound = (
        file.preemption_bound if overrides.preemption_bound is None else overrides.preemption_bound
    )
    max_schedules = overrides.max_schedules or env.get("max_schedules") or file.max_schedules
    max_failures = env.get("max_failures") or file.max_failures
    mode = overrides.mode or file.mode
    exhaustive = bool(
        getattr(resolve(strategy, seed=seed, preemption_bound=bound), "exhaustive", False)
    )
    promised = (
        exhaustive
        and overrides.max_schedules is None
        and overrides.time_budget is None
        and "max_schedules" not in env
        and "time_budget" not in env
    )
    fn, order = scenario.build()
    requires = order if order.rules else None
    instrument = tuple(dict.fromkeys((*scenario.instrument, *overrides.instrument)))
    database = FailureDatabase(Path(overrides.database)) if overrides.database else None
    stored = _replay_stored(database, scenario, fn, requires) if database else None
    if stored is not None and expectation(scenario, stored, promised)[1] is (
        scenario.expect != "clean"
    ):
        result = stored  # the stored failures decide the verdict: no need to explore
    else:
        result = _explore(
            fn,
            instrument,
            strategy=strategy,
            max_schedules=max_schedules,
            seed=seed,
            preemption_bound=bound,
            requires=requires,
            mode=mode,
            races=file.races,
            time_budget=overrides.time_budget,
            max_steps=overrides.max_steps,
            max_failures=max_failures,
            on_progress=on_progress,
        )
    for found in result.failures:
        if found.kind == "exception" and found.message.split(":", 1)[0] == "MemoryError":
            raise ScenarioError(
                f"{scenario.spec}: the workload ran out of memory (MemoryError) in schedule "
                f"{found.found_at + 1:,}, which says nothing about races; make it smaller "
                "([workload] or [params]) or give racesim more memory"
            )
    if database is not None:
        for found in result.failures:
            database.save(
                scenario.fingerprint, StoredFailure(found.token, found.kind, found.message)
            )
    calibrated = not (
        overrides.strategy
        or overrides.seed is not None
        or overrides.max_schedules
        or overrides.time_budget is not None
        or overrides.preemption_bound is not None
        or overrides.mode
        or "max_schedules" in env
        or "time_budget" in env
    )
    verdict, matches, failure = expectation(scenario, result, promised, calibrated)
    record = None
    if failure is not None:
        record = _report.FailureRecord.of(
            failure,
            requires,
            replay_command=_replay_command(scenario, failure.token),
            seed_command=_seed_command(scenario, failure),
        )
    settings = {
        "strategy": strategy,
        "max_schedules": max_schedules,
        "time_budget": overrides.time_budget,
        "seed": seed,
        "mode": mode,
        "preemption_bound": bound,
        "max_failures": max_failures,
        "races": file.races,
        "instrument": list(instrument),
        "promises_exhaustion": promised,
    }
    outcome = _report.ScenarioResult(
        command="explore",
        scenario=_info(scenario),
        settings=settings,
        verdict=verdict,
        matches=matches,
        stats=_report.Stats.of(result),
        order=tuple(rule.describe() for rule in order.rules),
        failure=record,
    )
    return _report.result_to_json(outcome)


def _replay_stored(
    database: FailureDatabase, scenario: Scenario, fn: Any, requires: Any
) -> Result | None:
    """Replay every failure the database holds for this scenario version (oldest first), as
    Hypothesis replays its database before generating; those that still fail, as a result (None
    if none does). Tokens that pass now or no longer fit the code are deleted."""
    started = time.monotonic()
    stored = database.failures(scenario.fingerprint)
    failures = []
    for item in stored:
        try:
            run = replay(fn, item.token, requires=requires, races=scenario.explore_settings.races)
        except (TokenError, ReplayDivergence):
            run = None
        if run is None or run.failure is None:
            database.delete(scenario.fingerprint, item.token)
        else:
            failures.append(run.failure)
    if not failures:
        return None
    return Result(
        failures=failures,
        schedules_run=len(stored),
        exhausted=False,
        exit_reason=ExitReason.FAILURE_LIMIT,
        first_failure_at=0,
        strategy=f"failure database ({database.path.name}/): stored failures replayed first",
        elapsed=time.monotonic() - started,
        distinct_orders=len(stored),
        fingerprint=scenario.fingerprint,
    )


def _worker(index: int, spec: str, overrides: Overrides) -> dict[str, Any]:
    _progress_queue.put(("start", index, 0, 0))
    return explore_scenario(spec, overrides, _queue_progress(index))


class Interrupted(Exception):
    """Ctrl-C during a run: the scenarios that finished were handed to ``on_done``; every
    worker process has been stopped."""


def _run_all(
    specs: Sequence[str],
    overrides: Overrides,
    workers: int,
    on_done: Callable[[int, dict[str, Any]], bool],
    progress: _Progress,
) -> None:
    """Explore every scenario, handing each result to ``on_done`` as it finishes; stop early
    when ``on_done`` returns False (``-x``). Ctrl-C raises :class:`Interrupted` once every
    worker is stopped (killed, so it takes well under a second, whatever they were running)."""
    if workers == 1 or len(specs) <= 1:
        try:
            for index, spec in enumerate(specs):
                progress.start(index)
                result = explore_scenario(
                    spec, overrides, functools.partial(progress.update, index)
                )
                if not on_done(index, result):
                    return
        except KeyboardInterrupt:
            raise Interrupted from None
        return
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(specs)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(messages,),
    )
    pending: dict[concurrent.futures.Future[dict[str, Any]], int] = {}
    try:
        pending = {
            pool.submit(_worker, index, spec, overrides): index for index, spec in enumerate(specs)
        }
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.1)
            _drain(messages, progress)
            for future in sorted(done, key=pending.__getitem__):
                if not on_done(pending.pop(future), future.result()):
                    return
        _drain(messages, progress)
    except KeyboardInterrupt:
        raise Interrupted from None
    finally:
        if pending:
            # A second Ctrl-C must not cut the cleanup short and leave workers running.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                _stop(pool)
            finally:
                signal.signal(signal.SIGINT, previous)
        else:
            pool.shutdown(wait=True)
        messages.close()
        messages.cancel_join_thread()


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop every worker now: cancel what has not started, kill what runs, reap them all."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join(timeout=5)


def _drain(messages: Any, progress: _Progress) -> None:
    while True:
        try:
            kind, index, schedules, failures = messages.get_nowait()
        except queue.Empty:
            return
        if kind == "start":
            progress.start(index)
        else:
            progress.update(index, schedules, failures)
