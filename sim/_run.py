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
the scenario or a model task), ``exception`` (any other exception), ``deadlock``, ``livelock``, or
``unawaited``: a coroutine was created and never awaited (``registry.set_manager(m)`` without
``await`` runs nothing). CPython reports that through ``warnings._warn_unawaited_coroutine``; during
a run racesim takes that hook, with coroutine origin tracking on, so the failure names the coroutine
and the user line that created it. It wins over the other kinds, whose failure it usually causes.

**Garbage is collected at fixed points.** Finalisers (an abandoned async generator's ``finally``,
a coroutine dropped inside a reference cycle) run when the object dies; cyclic garbage dies when
the collector happens to run, which depends on allocation counts of the whole process (importing
``hypothesis`` changes them). So automatic collection is off during a run, and racesim collects
young garbage at two fixed points: as the scenario's last step, and after ``trio.run`` returns.

**Async generators are finalised by model tasks.** trio closes an abandoned async generator in a
system task scheduled through ``run_sync_soon``; where that lands among model steps depended on
trio's batch shuffle (``_r``), so one schedule could pass or fail by trio's seed. During a run
racesim's finaliser hook spawns trio's own ``_finalize_one`` as a model task (``aclose <name>``)
instead: the strategy schedules its steps like any other and the recorder sees its footprint.
Generators that die outside a model step (trio's teardown) keep trio's path.

A scenario called inside a running trio loop cannot get a fresh ``trio.run``: that is
:class:`InsideTrioRun`, a usage error, raised before anything runs.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
import warnings
from typing import TYPE_CHECKING, Any

import attrs
import trio
import trio.testing
from trio._core import _run as trio_run

from . import _instrument, _primitives, _settings, _trace
from ._control import Controller, _is_user_file
from ._schedule import Schedule

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType

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
        "".join(traceback.format_exception(type(leaf), leaf, _user_traceback(leaf)))
        for leaf in leaves
    )
    return kind, message, details


def _user_traceback(error: BaseException) -> TracebackType | None:
    """The traceback without racesim's root wrapper (:meth:`Watch.root`) on top."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code is Watch.root.__code__:
        tb = tb.tb_next
    return tb


class InsideTrioRun(RuntimeError):
    """racesim was called from inside a running trio loop."""


def refuse_nested_run() -> None:
    """Raise :class:`InsideTrioRun` when called from inside ``trio.run``."""
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return
    raise InsideTrioRun(
        "racesim was called inside a running trio loop (an async function, such as an async "
        "test under trio_mode), but it starts a fresh trio.run for every schedule: call "
        "sim.explore / sim.replay from synchronous code (a plain `def test_...`), or mark the "
        "async test itself with @pytest.mark.racesim."
    )


#: Frames of a coroutine's creation racesim keeps: the creator, and one more for a coroutine that
#: a racesim or trio wrapper made for the user's call. Each frame costs: depth 2 adds ~8% to a run
#: of 3 tasks x 4 steps, depth 8 ~35%.
ORIGIN_DEPTH = 2


class Watch:
    """What one run leaves behind outside the schedule: never-awaited coroutines and abandoned
    async generators (see the module docstring). Installed around ``trio.run``."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.unawaited: list[str] = []
        self.nursery: trio.Nursery | None = None
        self._trio_hooks: Any = None
        self._saved: tuple[Any, int, bool] | None = None

    # -- around trio.run ---------------------------------------------------------------------------
    def __enter__(self) -> Watch:
        self._saved = (
            warnings._warn_unawaited_coroutine,  # type: ignore[attr-defined]
            sys.get_coroutine_origin_tracking_depth(),
            gc.isenabled(),
        )
        warnings._warn_unawaited_coroutine = self._unawaited  # type: ignore[attr-defined]
        sys.set_coroutine_origin_tracking_depth(ORIGIN_DEPTH)
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # the recorder kept every object it named alive (so ids stay unique in the run);
            # nothing is recorded any more: let them go, then collect what died with the run
            self.controller.recorder.release_objects()
            # generation 1 too: what the recorder held survived the scenario's own collection
            gc.collect(1)  # what died in trio's teardown is still part of this run
        finally:
            assert self._saved is not None
            hook, depth, enabled = self._saved
            warnings._warn_unawaited_coroutine = hook  # type: ignore[attr-defined]
            sys.set_coroutine_origin_tracking_depth(depth)
            if enabled:
                gc.enable()

    # -- inside the run (the harness task) ---------------------------------------------------------
    def install_hooks(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self._trio_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._trio_hooks.firstiter, finalizer=self._finalizer)

    def uninstall_hooks(self) -> None:
        self.nursery = None
        if self._trio_hooks is not None:
            sys.set_asyncgen_hooks(*self._trio_hooks)

    async def root(self, scenario: Callable[[], Awaitable[None]]) -> None:
        """The scenario, then a collection as its last step (a fixed, recorded point)."""
        await scenario()
        gc.collect(0)

    # -- hooks ------------------------------------------------------------------------------------
    def _finalizer(self, agen: Any) -> None:
        controller = self.controller
        nursery = self.nursery
        if nursery is None or controller.aborting or controller._stepping is None:
            self._trio_hooks.finalizer(agen)
            return
        from trio._util import name_asyncgen

        name = name_asyncgen(agen)
        finalize = trio_run.GLOBAL_RUN_CONTEXT.runner.asyncgens._finalize_one
        nursery.start_soon(finalize, agen, name, name=f"aclose {agen.ag_code.co_name}")
        warnings.warn(  # what trio's own finaliser says
            f"Async generator {name!r} was garbage collected before it had been exhausted. "
            "Surround its use in 'async with aclosing(...):' to ensure that it gets cleaned up "
            "as soon as you're done using it.",
            ResourceWarning,
            stacklevel=2,
            source=agen,
        )

    def _unawaited(self, coro: Any) -> None:
        name = getattr(coro, "__qualname__", None) or repr(coro)
        origin = getattr(coro, "cr_origin", None) or ()
        user = [frame for frame in origin if _is_user_file(frame[0])] or list(origin)
        if user:
            filename, lineno, function = user[0]
            created = f"created at {os.path.basename(filename)}:{lineno} in {function}()"
        else:
            created = "created before racesim tracked origins"
        stepping = self.controller._stepping
        where = ""
        if stepping is not None:
            where = f", dropped by task {self.controller.recorder.tasks[stepping].name}"
        self.unawaited.append(f"coroutine {name!r} was never awaited ({created}{where})")


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
    instrument: Sequence[str] = (),
) -> Outcome:
    """Run ``scenario`` once with ``strategy`` making every decision. Strategy errors (such as
    :class:`ReplayDivergence`) propagate after the run has been torn down. The scenario's module
    and the modules named in ``instrument`` get automatic footprints."""
    refuse_nested_run()
    _primitives.install()
    ensure_supported()
    _instrument.prepare(scenario, instrument)
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
    watch = Watch(controller)

    async def harness() -> None:
        controller.install()
        try:
            async with trio.open_nursery() as nursery:
                controller.root_scope = nursery.cancel_scope
                controller.expect_root = True
                watch.install_hooks(nursery)
                nursery.start_soon(watch.root, scenario)
        finally:
            watch.uninstall_hooks()
            controller.uninstall()

    trio_run._r.seed(seed)
    error: BaseException | None = None
    outer = _trace.ACTIVE
    _trace.ACTIVE = recorder
    try:
        with watch:
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
    if watch.unawaited:
        also = f"\n\nthe run also failed ({kind}): {message}" if kind is not None else ""
        kind, message = "unawaited", watch.unawaited[0]
        details = "\n".join(watch.unawaited) + also + (f"\n{details}" if details else "")
    return Outcome(
        trace=recorder.trace(),
        schedule=schedule,
        kind=kind,
        message=message,
        details=details,
        virtual_time=clock.current_time(),
    )
