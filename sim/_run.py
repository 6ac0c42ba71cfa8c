"""One controlled execution: a fresh ``trio.run`` under the gate, a MockClock, and the recorder.

Each run is hermetic: a new run loop, a ``trio.testing.MockClock(autojump_threshold=0)`` so sleeps and
timeouts take virtual time (the clock jumps only when every model task is blocked, or when the
strategy picks "advance the clock" with ``explore_time``), trio's scheduler randomness ``_r`` reseeded
from the run's seed, and a new :class:`~sim._trace.Recorder`. The scenario runs as the root model task
inside a harness nursery whose cancel scope the controller cancels on deadlock or runaway.

A fresh ``trio.run`` per schedule costs ~0.3 ms; reusing one run for many schedules would be faster
but shares the clock and quiescence with whatever else runs in it (pytest-trio fixtures), so the
fresh run is the only mode — determinism first.

The outcome classifies what happened: ``None`` (passed), ``assertion`` (an ``AssertionError`` from
the scenario or a model task), ``exception`` (any other exception), ``deadlock`` or ``livelock``.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

import attrs
import trio
import trio.testing
from trio._core import _run as trio_run

from . import _primitives, _settings, _trace
from ._control import Controller
from ._schedule import Schedule

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .strategies._protocol import Strategy


@attrs.frozen
class Outcome:
    """What one execution did."""

    trace: _trace.Trace
    schedule: Schedule
    kind: str | None  #: None when the run passed
    message: str
    details: str  #: formatted traceback, or the blocked-task report
    virtual_time: float

    @property
    def failed(self) -> bool:
        return self.kind is not None


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in error.exceptions:
            found.extend(_leaves(inner))
        return found
    return [error]


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _classify(error: BaseException) -> tuple[str, str, str]:
    leaves = [leaf for leaf in _leaves(error) if not isinstance(leaf, trio.Cancelled)]
    for leaf in leaves:
        # KeyboardInterrupt, SystemExit, and test-framework outcomes (pytest.skip / fail derive
        # from BaseException) are not findings about the scenario: let them through.
        if not isinstance(leaf, Exception):
            raise leaf
    if not leaves:
        leaves = [error]
    primary = next((leaf for leaf in leaves if isinstance(leaf, AssertionError)), leaves[0])
    kind = "assertion" if isinstance(primary, AssertionError) else "exception"
    message = "; ".join(_describe(leaf) for leaf in leaves)
    details = "".join(
        "".join(traceback.format_exception(type(leaf), leaf, leaf.__traceback__)) for leaf in leaves
    )
    return kind, message, details


class UnsupportedTrio(RuntimeError):
    """The installed trio's run loop cannot be controlled by racesim."""


_SUPPORTED: bool | None = None


def ensure_supported() -> None:
    """Prove once per process that the gate controls the installed trio: two tasks of two steps
    must show all C(4, 2) = 6 interleavings, and replaying each must repeat it exactly."""
    global _SUPPORTED
    if _SUPPORTED:
        return
    _SUPPORTED = True  # the self-test itself runs through run_once
    from .strategies.dfs import DfsStrategy
    from .strategies.replay import ReplayStrategy

    async def pair() -> None:
        async def step() -> None:
            await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(step)
            nursery.start_soon(step)

    problem = ""
    try:
        if not hasattr(trio_run.GLOBAL_RUN_CONTEXT, "__dict__") or not hasattr(
            trio_run.Runner, "__attrs_attrs__"
        ):
            raise AttributeError("trio._core._run.Runner is not the attrs class racesim expects")
        dfs = DfsStrategy()
        outcomes = []
        while dfs.new_execution():
            outcome = run_once(pair, dfs)
            dfs.execution_finished(outcome.trace, outcome.schedule)
            outcomes.append(outcome)
        orders = {outcome.trace.order() for outcome in outcomes}
        if len(outcomes) != 6 or len(orders) != 6:
            problem = f"saw {len(orders)} distinct interleavings of 2 tasks x 2 steps, expected 6"
        for outcome in outcomes:
            replayed = ReplayStrategy(outcome.schedule)
            replayed.new_execution()
            if run_once(pair, replayed).trace != outcome.trace:
                problem = "replaying a schedule gave a different trace"
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        _SUPPORTED = False
        raise UnsupportedTrio(
            f"racesim cannot control trio {trio.__version__} ({problem}). Install a supported "
            "trio (racesim is tested with trio 0.25-0.35: pip install 'trio>=0.25,<0.36') or "
            "report this trio version to racesim."
        )


def run_once(
    scenario: Callable[[], Awaitable[None]],
    strategy: Strategy,
    *,
    seed: int = 0,
    mode: str = "free",
    max_steps: int = 20_000,
    explore_time: bool = False,
    external_wait: float | None = None,
) -> Outcome:
    """Run ``scenario`` once with ``strategy`` making every decision. Strategy errors (such as
    :class:`ReplayDivergence`) propagate after the run has been torn down."""
    _primitives.install()
    ensure_supported()
    recorder = _trace.Recorder()
    if external_wait is None:
        external_wait = _settings.from_env().external_wait
    controller = Controller(
        strategy,
        recorder,
        mode=mode,
        max_steps=max_steps,
        explore_time=explore_time,
        external_wait=external_wait,
    )
    clock = trio.testing.MockClock(autojump_threshold=0)

    async def harness() -> None:
        controller.install()
        try:
            async with trio.open_nursery() as nursery:
                controller.root_scope = nursery.cancel_scope
                controller.expect_root = True
                nursery.start_soon(scenario)
        finally:
            controller.uninstall()

    trio_run._r.seed(seed)
    error: BaseException | None = None
    outer = _trace.ACTIVE
    _trace.ACTIVE = recorder
    try:
        trio.run(harness, clock=clock, instruments=[controller], strict_exception_groups=True)
    except BaseException as exc:
        error = exc
    finally:
        _trace.ACTIVE = outer
    if controller.error is not None:
        raise controller.error
    if recorder.current is not None:
        recorder.end_step("aborted")
    schedule = Schedule(tuple(controller.decisions), mode=mode, explore_time=explore_time)
    kind: str | None = None
    message = details = ""
    if controller.problem is not None:
        kind, message = controller.problem
        details = message
    elif error is not None:
        kind, message, details = _classify(error)
    return Outcome(
        trace=recorder.trace(),
        schedule=schedule,
        kind=kind,
        message=message,
        details=details,
        virtual_time=clock.current_time(),
    )
