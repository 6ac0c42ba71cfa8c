"""Running: one scenario explored with its settings (also the worker function of ``--workers``),
and the loop that spreads scenarios over processes and collects their results in order."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import queue
import time
from typing import TYPE_CHECKING, Any

import attrs

from .. import _report
from .._explore import explore
from .._scenario import load_scenario
from ..strategies import resolve
from ._parse import PROGRESS_INTERVAL
from ._printing import _info, _replay_command, _seed_command

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._explore import Failure, Result
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


def expectation(
    scenario: Scenario, result: Result, promised: bool
) -> tuple[str, bool, Failure | None]:
    """``(verdict, as expected, the failure to report)`` for a scenario's exploration."""
    failures = result.failures
    if scenario.expect == "race":
        if not failures:
            return ("no race found" + (" (exhausted)" if result.exhausted else ""), False, None)
        wanted = scenario.expect_failure
        for failure in failures:
            if wanted is None or wanted.matches(failure):
                return (f"race found ({failure.kind})", True, failure)
        expected = wanted.describe() if wanted is not None else "a failure"
        return (f"other failure ({failures[0].kind}; expected {expected})", False, failures[0])
    if failures:
        return (f"race found ({failures[0].kind})", False, failures[0])
    if result.exhausted:
        return ("clean", True, None)
    return ("clean (not exhausted)", not promised, None)


_progress_queue: Any = None


def _init_worker(progress: Any) -> None:
    global _progress_queue
    _progress_queue = progress


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
    path: str,
    overrides: Overrides,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Explore one scenario file with its settings and ``overrides``; its result as JSON."""
    scenario = load_scenario(path)
    file = scenario.explore_settings
    strategy = overrides.strategy or file.strategy
    seed = file.seed if overrides.seed is None else overrides.seed
    bound = (
        file.preemption_bound if overrides.preemption_bound is None else overrides.preemption_bound
    )
    max_schedules = overrides.max_schedules or file.max_schedules
    mode = overrides.mode or file.mode
    exhaustive = bool(
        getattr(resolve(strategy, seed=seed, preemption_bound=bound), "exhaustive", False)
    )
    promised = exhaustive and overrides.max_schedules is None and overrides.time_budget is None
    fn, order = scenario.build()
    requires = order if order.rules else None
    result = explore(
        fn,
        strategy=strategy,
        max_schedules=max_schedules,
        seed=seed,
        preemption_bound=bound,
        requires=requires,
        mode=mode,
        races=file.races,
        time_budget=overrides.time_budget,
        max_failures=file.max_failures,
        on_progress=on_progress,
    )
    verdict, matches, failure = expectation(scenario, result, promised)
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
        "max_failures": file.max_failures,
        "races": file.races,
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


def _worker(index: int, path: str, overrides: Overrides) -> dict[str, Any]:
    _progress_queue.put(("start", index, 0, 0))
    return explore_scenario(path, overrides, _queue_progress(index))


def _run_all(
    paths: Sequence[str],
    overrides: Overrides,
    workers: int,
    on_done: Callable[[int, dict[str, Any]], None],
    progress: _Progress,
) -> None:
    if workers == 1 or len(paths) <= 1:
        for index, path in enumerate(paths):
            progress.start(index)
            on_done(
                index, explore_scenario(path, overrides, functools.partial(progress.update, index))
            )
        return
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(paths)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(messages,),
    ) as pool:
        pending = {
            pool.submit(_worker, index, path, overrides): index for index, path in enumerate(paths)
        }
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.1)
            _drain(messages, progress)
            for future in sorted(done, key=pending.__getitem__):
                on_done(pending.pop(future), future.result())
        _drain(messages, progress)


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
