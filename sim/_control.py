"""The gate on trio's run queue: exactly one model task steps per scheduling decision.

trio runs tasks in batches: ``batch = list(runner.runq); runner.runq.clear()``, then each task of the
batch steps to its next checkpoint. For the duration of a run racesim replaces ``runner.runq`` (a
deque) with a :class:`Gate` whose iteration hands the run loop every runnable *non-model* task (trio's
own system tasks, the harness) plus **exactly one** runnable model task, chosen by the strategy among
all runnable model tasks sorted by spawn order; ``clear()`` removes only what was handed out. The
others stay runnable and are offered again at the next decision. That is the whole mechanism: the
code under test is plain trio, every checkpoint is a schedule point, and the same decisions give the
same trace in any process (nothing depends on trio's batch shuffle, ``id()`` order or hashing).

Model tasks are the scenario's root task and everything spawned from model tasks (the
``task_spawned`` instrument hook). Two modes:

- ``free`` (default): any runnable model task may go next, so a task can be held back for as long as
  the strategy likes — this models arbitrary I/O latency, which trio's own lock-step batches never do.
- ``batch``: only orders trio itself could produce: the tasks runnable when a batch starts run in
  some permutation, and tasks woken meanwhile wait for the next batch.

The :class:`Controller` is the trio Instrument that keeps the books: it opens and closes a trace step
around each model task step, records wake-ups (a model task rescheduled while another model task
runs) and spawns, detects deadlock (model tasks alive, none runnable, no timer pending) and runaway
runs (the step budget), and cancels the run in both cases with a report of where every task waits.
Delivery decisions on in-memory links (:mod:`._streams`) are further candidates of a decision; the
chosen one runs right there, in the run loop, as a step of the link's pseudo-task.

**External waits.** A model task blocked on something outside the model — a worker thread, I/O
readiness — is *externally blocked*; trio's abort function for the blocked task says which (one dict
lookup per blocking step). Two rules keep runs deterministic and honest. (1) While a worker thread
has not reported back (returned, or called in with ``trio.from_thread``), no decision is made: the
gate hands the run loop only non-model tasks (the entry queue that delivers the thread's result),
so the set of runnable tasks at a decision never depends on thread speed. (2) When nothing in the
model may run and an external operation is pending (a model task's, or a task outside the model
blocked on a thread or I/O), the gate waits in real time in trio's own I/O manager — no deadlock is
declared and the MockClock never advances — up to ``external_wait`` seconds; beyond that the run
fails as ``stalled`` with each task and what it waits for, and tasks stuck on threads are resumed
with :class:`ExternalWaitExceeded` (their threads' late results are dropped) so the run can end.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import outcome
import trio
from trio._core import _run as trio_run

from . import _instrument, _primitives, _streams, _trace
from ._schedule import Decision
from .strategies._protocol import Choice

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .strategies._protocol import Strategy

_TRIO_DIR = os.path.dirname(trio.__file__) + os.sep
_SIM_DIR = os.path.dirname(__file__) + os.sep
_OUTCOME_DIR = "outcome" + os.sep


_USER_FILES: dict[str, bool] = {}
_RUN_LOOP_CODE = trio_run.unrolled_run.__code__


def _is_user_file(filename: str) -> bool:
    known = _USER_FILES.get(filename)
    if known is None:
        known = _USER_FILES[filename] = not (
            filename.startswith(_TRIO_DIR)
            or filename.startswith(_SIM_DIR)
            or _OUTCOME_DIR in filename
            or filename.startswith("<frozen")
        )
    return known


def where(task: Any) -> tuple[str, str]:
    """``("file.py:42", "function")`` of the innermost user frame ``task`` is suspended in."""
    found: tuple[Any, int] | None = None
    coro = task.coro
    while coro is not None:  # the walk of Task.iter_await_frames, without the generator
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        if _is_user_file(frame.f_code.co_filename):
            found = (frame.f_code, frame.f_lineno)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if found is None:
        return ("?", "?")
    code, lineno = found
    return (f"{os.path.basename(code.co_filename)}:{lineno}", code.co_name)


def _model_name(raw: str, taken: set[str]) -> str:
    name = raw.rsplit("<locals>.", 1)[-1]
    if "." in name and " " not in name:
        name = name.rsplit(".", 1)[-1]
    unique, number = name, 1
    while unique in taken:
        number += 1
        unique = f"{name}#{number}"
    taken.add(unique)
    return unique


#: What a model task blocked on outside the model waits for, by the file of trio's abort function.
_THREAD = "a worker thread (trio.to_thread.run_sync)"
_EXTERNAL_FILES = {
    "_threads.py": _THREAD,
    "_io_epoll.py": "I/O readiness (wait_readable / wait_writable)",
    "_io_kqueue.py": "I/O readiness (wait_readable / wait_writable)",
    "_io_windows.py": "I/O readiness (wait_readable / wait_writable / overlapped I/O)",
}
_EXTERNAL_CODES: dict[Any, str | None] = {}


def external_wait(task: Any) -> str | None:
    """What ``task`` waits for outside the model (a thread, I/O), or None: read from the abort
    function trio keeps for a blocked task, so the check costs one dict lookup."""
    code = getattr(task._abort_func, "__code__", None)
    if code is None:
        return None
    found = _EXTERNAL_CODES.get(code, "")
    if found == "":
        filename = code.co_filename
        found = None
        if filename.startswith(_TRIO_DIR):
            found = _EXTERNAL_FILES.get(os.path.basename(filename))
        _EXTERNAL_CODES[code] = found
    return found


class ExternalWaitExceeded(Exception):
    """Thrown into a task stuck on a worker thread when the external-wait limit is exceeded."""


def _unstick(task: Any, abort: Any) -> None:
    """Resume a task blocked in ``trio.to_thread.run_sync`` with :class:`ExternalWaitExceeded`,
    and make its thread's late result be dropped (what ``abandon_on_cancel=True`` does)."""
    cells = dict(zip(abort.__code__.co_freevars, abort.__closure__ or (), strict=True))
    register = cells.get("task_register")
    if register is None or task._next_send_fn is not None:  # gone, or already resumed
        return
    register.cell_contents[0] = None
    trio.lowlevel.reschedule(task, outcome.Error(ExternalWaitExceeded(task.name)))


class RunAborted(Exception):
    """Raised inside the controller to stop a run early (divergence, strategy error)."""


class Gate:
    """Stands in for ``runner.runq``; see the module docstring."""

    def __init__(self, controller: Controller, pending: deque[Any]) -> None:
        self._controller = controller
        self._other: deque[Any] = deque()
        self.model: list[Any] = []
        self._handed: Any = None
        for task in pending:
            self.append(task)

    def append(self, task: Any) -> None:
        controller = self._controller
        if task in controller.ids:
            self.model.append(task)
            controller.task_runnable(task)
        else:
            self._other.append(task)

    def __bool__(self) -> bool:
        if self._other:
            return True
        controller = self._controller
        runnable = bool(self.model) or bool(controller.link_actions())
        # Nothing runnable (or a worker thread has not reported back yet, so no decision may be
        # made). When the run loop itself asks (not ``reschedule``, which asks too), this is where
        # trio would block in its I/O wait: the controller waits for external operations or checks
        # for deadlock here rather than in an instrument hook that would cost a call on every
        # loop iteration.
        if (not runnable or controller.threads_pending()) and sys._getframe(
            1
        ).f_code is _RUN_LOOP_CODE:
            controller.idle()
            runnable = bool(self.model) or bool(controller.link_actions())
        return bool(self._other) or runnable

    def __len__(self) -> int:
        return len(self._other) + len(self.model)

    def __iter__(self) -> Iterator[Any]:
        handed = list(self._other)
        controller = self._controller
        chosen = None
        if (self.model or controller.link_actions()) and not controller.threads_pending():
            chosen = controller.pick(self.model)
        self._handed = chosen
        if chosen is not None:
            handed.append(chosen)
        return iter(handed)

    def clear(self) -> None:
        self._other.clear()
        if self._handed is not None:
            self.model.remove(self._handed)
            self._handed = None

    def drain(self) -> deque[Any]:
        tasks = deque(self._other)
        tasks.extend(self.model)
        self._other.clear()
        self.model.clear()
        return tasks


class Controller(trio.abc.Instrument):
    """Owns one controlled run: gate, recorder, decisions, and deadlock / budget detection."""

    def __init__(
        self,
        strategy: Strategy,
        recorder: _trace.Recorder,
        *,
        mode: str = "free",
        max_steps: int = 20_000,
        explore_time: bool = False,
        external_wait: float = 10.0,
    ) -> None:
        self.strategy = strategy
        self.external_wait = external_wait
        #: model task id -> what it waits for outside the model (a worker thread, I/O readiness)
        self.external: dict[int, str] = {}
        self._idle_since: float | None = None
        self.recorder = recorder
        self.mode = mode
        self.max_steps = max_steps
        self.explore_time = explore_time
        self.ids: dict[Any, int] = {}
        self.tasks: list[Any] = []
        self.alive: set[int] = set()
        self.decisions: list[Decision] = []
        self.steps = 0
        self.last_run: int | None = None
        self.batch_left: set[int] = set()
        self.expect_root = False
        self.root_scope: trio.CancelScope | None = None
        self.problem: tuple[str, str] | None = None  #: (kind, message) of a deadlock / livelock
        self.error: BaseException | None = None  #: raised by the strategy (e.g. divergence)
        self.aborting = False
        self._names: set[str] = set()
        self._stepping: int | None = None
        self._exited = False
        self._clock_chosen = False
        self.gate: Gate | None = None
        self.links = _streams.Links(self._add_link)

    # -- installing the gate (called from the harness task, inside the run) -----------------------
    def install(self) -> None:
        runner = trio_run.GLOBAL_RUN_CONTEXT.runner
        self.gate = Gate(self, runner.runq)
        runner.runq = self.gate  # type: ignore[assignment]  # the one documented gate
        _streams.ACTIVE = self.links

    def uninstall(self) -> None:
        runner = trio_run.GLOBAL_RUN_CONTEXT.runner
        if _streams.ACTIVE is self.links:
            _streams.ACTIVE = None
        if self.gate is not None and runner.runq is self.gate:  # type: ignore[comparison-overlap]
            runner.runq = self.gate.drain()

    # -- choosing -----------------------------------------------------------------------------------
    def task_runnable(self, task: Any) -> None:
        if self.external:
            self.external.pop(self.ids[task], None)
        if self._stepping is not None and not self.aborting:
            self.recorder.woke(self.ids[task])

    def threads_pending(self) -> bool:
        """A model task waits for a worker thread that has not reported back: no decision may
        be made until it does, so the set of runnable tasks never depends on thread timing."""
        return bool(self.external) and _THREAD in self.external.values()

    def clock_pending(self) -> bool:
        if not self.explore_time or self.aborting:
            return False
        if self.external:
            return False  # the virtual clock stands still while an external operation pends
        deadline = trio.lowlevel.current_statistics().seconds_to_next_deadline
        runnable = bool(self.gate and self.gate.model) or bool(self.link_actions())
        return 0 < deadline < float("inf") and runnable

    def link_actions(self) -> list[int]:
        """Delivery decisions on in-memory links that may go next (see :mod:`._streams`)."""
        if not self.links.links or not self.alive or self.aborting:
            return []
        return self.links.actions()

    def _add_link(self, name: str) -> int:
        task_id = self.recorder.add_task(_model_name(name, self._names), self._stepping)
        self.tasks.append(name)  # keeps ids aligned; a link is never alive or blocked
        return task_id

    def _run_link(self, action: int) -> None:
        """One delivery decision as a step of the link's pseudo-task."""
        self.steps += 1
        self._stepping = action
        self.recorder.begin_step(action)
        location = "aborted"
        try:
            location = self.links.run(action)
        except BaseException as exc:
            self._fault(exc)
        finally:
            self._stepping = None
            if self.recorder.current is not None:
                self.recorder.end_step(location)

    def pick(self, runnable: list[Any]) -> Any | None:
        ids = self.ids
        order = sorted(runnable, key=ids.__getitem__)
        if self.mode == "batch" and order:
            if not self.batch_left or not any(ids[task] in self.batch_left for task in order):
                self.batch_left = {ids[task] for task in order}
            order = [task for task in order if ids[task] in self.batch_left]
        entries: list[tuple[int, Any]] = [(ids[task], task) for task in order]
        actions = self.link_actions()
        if actions:
            entries = sorted([*entries, *((action, None) for action in actions)])
        clock = self.clock_pending()
        if not entries:
            return None
        if (len(entries) == 1 and not clock) or self.aborting:
            chosen_id, chosen = entries[0]
        else:
            candidates = tuple(entry[0] for entry in entries)
            names = tuple(self.recorder.tasks[i].name for i in candidates)
            previous = candidates.index(self.last_run) if self.last_run in candidates else None
            if clock:
                candidates = (*candidates, -1)
                names = (*names, "<clock>")
            choice = Choice(
                candidates=candidates,
                names=names,
                previous=previous,
                decision=len(self.decisions),
                step=self.steps,
                recorder=self.recorder,
                clock=clock,
            )
            try:
                index = self.strategy.choose(choice)
            except BaseException as exc:  # a divergence or a strategy bug: stop this run
                self.error = exc
                self.abort()
                return order[0] if order else None
            if not 0 <= index < len(candidates):
                self.error = RuntimeError(
                    f"internal error in racesim - please report: strategy "
                    f"{self.strategy.name!r} chose {index} of {len(candidates)} tasks"
                )
                self.abort()
                return order[0] if order else None
            self.decisions.append(Decision(index, names[index], len(candidates), previous))
            if candidates[index] == -1:
                self._advance_clock()
                return None
            chosen_id, chosen = entries[index]
        if chosen is None:
            self._run_link(chosen_id)
            return None
        if self.mode == "batch":
            self.batch_left.discard(ids[chosen])
        return chosen

    def _advance_clock(self) -> None:
        clock = trio.lowlevel.current_clock()
        jump = trio.lowlevel.current_statistics().seconds_to_next_deadline
        if isinstance(clock, trio.testing.MockClock) and 0 < jump < float("inf"):
            clock.jump(jump)

    # -- aborting -----------------------------------------------------------------------------------
    def abort(self) -> None:
        """Stop recording and cancel the scenario; its tasks unwind deterministically."""
        if self.aborting:
            return
        self.aborting = True
        if self.recorder.current is not None:
            self.recorder.end_step("aborted")
        self._stepping = None
        if self.root_scope is not None:
            self.root_scope.cancel()

    def blocked_report(self) -> list[str]:
        lines = []
        for task_id in sorted(self.alive):
            task = self.tasks[task_id]
            location, function = where(task)
            waits = self.waits_on(task)
            what = f" waiting on {waits}" if waits else ""
            lines.append(
                f"  {self.recorder.tasks[task_id].name}: blocked in {function}() at {location}{what}"
            )
        return lines

    def waits_on(self, task: Any) -> str | None:
        """The trio object a blocked task waits on, as a recorder key (e.g. ``Lock#2``)."""
        for frame, _ in task.iter_await_frames():
            owner = frame.f_locals.get("self")
            if owner is not None and type(owner).__module__.startswith("trio"):
                cls = type(owner).__name__
                if cls in (
                    "Lock",
                    "StrictFIFOLock",
                    "Semaphore",
                    "CapacityLimiter",
                    "Condition",
                    "Event",
                    "MemoryReceiveChannel",
                    "MemorySendChannel",
                ):
                    target = owner._state if cls.startswith("Memory") else owner
                    return self.recorder.key_of(target)
        return None

    def holders(self) -> dict[str, str]:
        """Lock-like objects held by model tasks: key -> holding task name (for wait-for cycles)."""
        held: dict[str, str] = {}
        for task_id in sorted(self.alive):
            for frame, _ in self.tasks[task_id].iter_await_frames():
                for value in frame.f_locals.values():
                    owner = (
                        getattr(value, "_owner", None)
                        if isinstance(value, trio.Lock | trio.StrictFIFOLock)
                        else None
                    )
                    if owner is not None and owner in self.ids:
                        held[self.recorder.key_of(value)] = self.recorder.tasks[
                            self.ids[owner]
                        ].name
        return held

    # -- trio Instrument hooks ------------------------------------------------------------------------
    def _task_spawned(self, task: Any) -> None:
        parent: Any = getattr(trio_run.GLOBAL_RUN_CONTEXT, "task", None)
        if self.expect_root:
            self.expect_root = False
            parent_id = None
            name = "main"
        elif parent in self.ids:
            parent_id = self.ids[parent]
            name = task.name
        else:
            return
        task_id = self.recorder.add_task(_model_name(name, self._names), parent_id)
        self.ids[task] = task_id
        self.tasks.append(task)
        self.alive.add(task_id)
        hidden = _instrument.suspended_hidden(task.coro)
        if hidden is not None:
            self.recorder.hide_task(task_id, hidden)

    def _before_task_step(self, task: Any) -> None:
        task_id = self.ids.get(task)
        if task_id is None or self.aborting:
            return
        if self.steps >= self.max_steps:
            self.problem = (
                "livelock",
                f"the run exceeded its step budget of {self.max_steps} steps without finishing "
                "(a runaway loop or livelock). Tasks still running:\n"
                + "\n".join(self.blocked_report())
                + "\nRaise the budget with max_steps= / RACESIM_MAX_STEPS if the work is real.",
            )
            self.abort()
            return
        self.steps += 1
        self._stepping = task_id
        self._exited = False
        self._idle_since = None
        self.recorder.begin_step(task_id)

    def _task_exited(self, task: Any) -> None:
        task_id = self.ids.get(task)
        if task_id is None:
            return
        self.alive.discard(task_id)
        if self._stepping == task_id:
            _primitives.record_child_exit(task)
            self._exited = True

    def _after_task_step(self, task: Any) -> None:
        task_id = self.ids.get(task)
        if task_id is None or self._stepping != task_id:
            return
        self._stepping = None
        self.last_run = task_id
        if not self._exited:
            self.recorder.suspended(task_id, _instrument.suspended_hidden(task.coro))
            if task._next_send_fn is None:  # blocked, not merely yielded
                _primitives.record_blocked(self.recorder)
        location = "exit" if self._exited else where(task)[0]
        self.recorder.end_step(location)
        if not self._exited and task._abort_func is not None:
            what = external_wait(task)
            if what is not None:
                self.external[task_id] = what

    def idle(self) -> None:
        try:
            if not self._wait_external():
                self._clock_forced()
                self._check_deadlock()
        except BaseException as exc:
            self._fault(exc)

    # -- external waits ---------------------------------------------------------------------------
    def _outside_waits(self, runner: Any) -> list[str]:
        """Tasks outside the model (not trio's own) blocked on a thread or I/O: they may still
        wake a model task, so the run is not deadlocked while they wait."""
        found = []
        for task in runner.tasks:
            if task in self.ids or task.name.startswith("<") or task is runner.main_task:
                continue
            what = external_wait(task) if task._abort_func is not None else None
            if what is not None:
                found.append(f"  {task.name} (outside the scenario): waiting for {what}")
        return sorted(found)

    def _wait_external(self) -> bool:
        """Wait in real time while operations outside the model are pending and nothing in the
        model may run; False when none is pending (then the caller checks for deadlock)."""
        gate = self.gate
        if gate is None:
            return False
        runner = trio_run.GLOBAL_RUN_CONTEXT.runner
        while True:
            runnable = bool(gate.model) or bool(self.link_actions())
            if gate._other or (runnable and not self.threads_pending()):
                return True
            pending = {i: what for i, what in self.external.items() if i in self.alive}
            outside = [] if pending or self.aborting else self._outside_waits(runner)
            if not pending and not outside:
                return False
            if self._idle_since is None:
                self._idle_since = time.monotonic()
            left = self._idle_since + self.external_wait - time.monotonic()
            if left <= 0:
                self._external_exceeded(pending, outside)
                return True
            runner.io_manager.process_events(runner.io_manager.get_events(left))

    def _external_exceeded(self, pending: dict[int, str], outside: list[str]) -> None:
        lines = [
            f"  {self.recorder.tasks[i].name}: waiting for {what} in "
            f"{where(self.tasks[i])[1]}() at {where(self.tasks[i])[0]}"
            for i, what in sorted(pending.items())
        ]
        if self.problem is None:
            self.problem = (
                "stalled",
                f"external wait exceeded the limit of {self.external_wait:g} s of real time: "
                "nothing in the model could run while these waited outside it:\n"
                + "\n".join(lines + outside)
                + "\nA thread that never returns, or I/O that never becomes ready, stalls the run. "
                "If the work is real, raise the limit with RACESIM_EXTERNAL_WAIT.",
            )
        stuck = [  # not cancellable: its thread holds it until it returns
            (self.tasks[task_id], self.tasks[task_id]._abort_func)
            for task_id, what in sorted(pending.items())
            if what == _THREAD
        ]
        self.external.clear()
        self.abort()  # trio tries each abort function once, and forgets it
        for task, abort in stuck:
            _unstick(task, abort)

    def _clock_forced(self) -> None:
        """With ``explore_time`` the clock is about to advance with every model task blocked:
        not a decision, but an event a strategy may order against (``clock_advanced``)."""
        advanced = getattr(self.strategy, "clock_advanced", None)
        if advanced is None or not self.explore_time or self.aborting or not self.alive:
            return
        if trio.lowlevel.current_statistics().seconds_to_next_deadline < float("inf"):
            advanced(self.recorder)

    def _check_deadlock(self) -> None:
        if self.gate is None or self.aborting or not self.alive:
            return
        if trio.lowlevel.current_statistics().seconds_to_next_deadline < float("inf"):
            return
        if trio_run.GLOBAL_RUN_CONTEXT.runner.waiting_for_idle:
            return  # trio wakes wait_all_tasks_blocked() now that every task is blocked
        from ._happens_before import wait_for_cycle

        names = {self.recorder.tasks[i].name: self.waits_on(self.tasks[i]) for i in self.alive}
        waits = {name: key for name, key in names.items() if key is not None}
        cycle = wait_for_cycle(waits, self.holders())
        message = "deadlock: every model task is blocked and no timer is pending:\n"
        message += "\n".join(self.blocked_report())
        if cycle:
            message += "\nwait-for cycle: " + " -> ".join(cycle)
        self.problem = ("deadlock", message)
        self.abort()

    # trio disables an instrument that raises and carries on, which would leave the run
    # uncontrolled (or spinning on an undetected deadlock): turn any fault into a stopped run.
    def _fault(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = RuntimeError(
                f"internal error in racesim - please report: {type(exc).__name__}: {exc}"
            )
            self.error.__cause__ = exc
        self.abort()

    def task_spawned(self, task: Any) -> None:
        try:
            self._task_spawned(task)
        except BaseException as exc:
            self._fault(exc)

    def before_task_step(self, task: Any) -> None:
        try:
            self._before_task_step(task)
        except BaseException as exc:
            self._fault(exc)

    def task_exited(self, task: Any) -> None:
        try:
            self._task_exited(task)
        except BaseException as exc:
            self._fault(exc)

    def after_task_step(self, task: Any) -> None:
        try:
            self._after_task_step(task)
        except BaseException as exc:
            self._fault(exc)
