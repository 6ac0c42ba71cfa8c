"""Trace records of one controlled execution, and the recorder that builds them.

A *step* is what a model task does between two checkpoints: trio runs it atomically, so a step is the
unit of interleaving. The recorder numbers steps per task and globally, and stores for each:

- where the task stopped (file:line of the innermost user frame it yielded from, or ``exit``);
- its *footprint*: accesses to ``@sim.tracked`` attributes (read / write) and operations on trio's
  own objects (sync primitives, channels, nurseries, cancel scopes) as ``acquire`` / ``release``;
- the tasks it woke (``task_scheduled`` while it ran) and the tasks it spawned;
- the ``sim.note`` events it recorded, in order.

Everything here is plain data (frozen attrs values) except :class:`Recorder`, the one mutable object
alive during a run. Object keys (``"Session#2"``) are numbered per class in first-touch order, and
task names in spawn order, so the same schedule yields the same trace bit for bit in any process:
nothing depends on ``id()`` order or hashing.

The invariant the happens-before module relies on: steps are atomic, so every note of a step happens
after everything that happened before the step's start and before everything its wake-ups, spawns
and releases reach.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

AccessKind = Literal["read", "write", "acquire", "release"]

#: The access kinds that only observe state (two of them on one key commute).
OBSERVING: frozenset[str] = frozenset({"read"})


@attrs.frozen
class Access:
    """One access of a step: ``obj`` is a stable object key, ``attr`` the attribute (``""`` for trio
    objects), ``kind`` one of read / write (tracked data) or acquire / release (trio objects)."""

    obj: str
    attr: str
    kind: AccessKind
    #: recorded by automatic footprints (:mod:`sim._instrument`) rather than by ``@sim.tracked`` or
    #: trio's primitives: it orders exploration, but an unordered pair of such accesses is not
    #: reported as a data race (the user never declared that state must be synchronised)
    auto: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.obj, self.attr)

    @property
    def is_sync(self) -> bool:
        return self.kind in ("acquire", "release")

    def conflicts_with(self, other: Access) -> bool:
        """Two accesses conflict when they touch the same key and at least one changes it."""
        return self.key == other.key and not (self.kind in OBSERVING and other.kind in OBSERVING)

    def describe(self) -> str:
        target = f"{self.obj}.{self.attr}" if self.attr else self.obj
        return f"{self.kind} {target}"


@attrs.frozen
class Note:
    """A ``sim.note(label, **attrs)`` event, recorded in the step that ran it."""

    label: str
    attrs: tuple[tuple[str, object], ...]
    task: int
    step: int  #: global sequence number of the step that recorded it
    position: int  #: order among the notes of that step
    location: str

    def attr(self, name: str, default: object = None) -> object:
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @property
    def attr_dict(self) -> dict[str, object]:
        return dict(self.attrs)

    def describe(self) -> str:
        detail = ", ".join(f"{k}={v}" for k, v in self.attrs)
        return f"{self.label} ({detail})" if detail else self.label


@attrs.frozen
class Step:
    """One atomic step of a model task."""

    seq: int  #: position in the whole trace (0-based)
    task: int  #: spawn-order index of the model task
    index: int  #: position among the steps of that task (0-based)
    location: str  #: where the task stopped after this step: "file.py:42", or "exit"
    accesses: tuple[Access, ...] = ()
    woke: tuple[int, ...] = ()  #: tasks this step made runnable (wake-up edges)
    spawned: tuple[int, ...] = ()  #: tasks this step spawned (spawn edges)
    notes: tuple[Note, ...] = ()
    #: the step ran code racesim does not see (not instrumented): its footprint is incomplete
    unseen: bool = False


@attrs.frozen
class TaskInfo:
    """A model task: its stable name, who spawned it and from which step."""

    id: int
    name: str
    parent: int | None  #: the spawning model task, None for the scenario's root task
    spawn_step: int | None  #: seq of the step that spawned it, None for the root task


@attrs.frozen
class Trace:
    """Everything recorded in one execution, in execution order."""

    tasks: tuple[TaskInfo, ...]
    steps: tuple[Step, ...]
    #: what made steps unseen: code racesim did not instrument, first few distinct causes
    hidden: tuple[str, ...] = ()

    @property
    def notes(self) -> tuple[Note, ...]:
        return tuple(note for step in self.steps for note in step.notes)

    def task_name(self, task: int) -> str:
        return self.tasks[task].name

    def order(self) -> tuple[str, ...]:
        """The step order as task names: the observable schedule."""
        return tuple(self.tasks[step.task].name for step in self.steps)

    def describe_step(self, seq: int) -> str:
        step = self.steps[seq]
        return f"{self.tasks[step.task].name} step {step.index} (until {step.location})"


def freeze_attrs(values: Mapping[str, object]) -> tuple[tuple[str, object], ...]:
    """Note attributes as a sorted tuple of plain values (anything else becomes its ``str``)."""
    frozen: list[tuple[str, object]] = []
    for key in sorted(values):
        value = values[key]
        if not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        frozen.append((key, value))
    return tuple(frozen)


@attrs.define(eq=False)
class _OpenStep:
    task: int
    index: int
    accesses: list[Access] = attrs.Factory(list)
    seen: set[tuple[str, str, str, bool]] = attrs.Factory(set)
    woke: list[int] = attrs.Factory(list)
    spawned: list[int] = attrs.Factory(list)
    notes: list[Note] = attrs.Factory(list)
    unseen: bool = False
    #: A blocking call in progress: [position in accesses, key, kind it completes with]
    #: (``_primitives`` moves what follows it to the task's next step if the task blocks).
    attempt: list[object] | None = None


@attrs.define(eq=False)
class Recorder:
    """Builds a :class:`Trace` while a run executes. One per run; the engine drives it."""

    tasks: list[TaskInfo] = attrs.Factory(list)
    steps: list[Step] = attrs.Factory(list)
    step_counts: list[int] = attrs.Factory(list)
    current: _OpenStep | None = None
    _keys: dict[int, str] = attrs.Factory(dict)
    _keep_alive: list[object] = attrs.Factory(list)
    _class_counts: dict[str, int] = attrs.Factory(dict)
    _names_taken: set[str] = attrs.Factory(set)
    #: the thread the run executes in: accesses from other threads are not model steps
    thread: int = attrs.Factory(threading.get_ident)
    #: tasks suspended inside code racesim does not see: their next step is unseen too
    hidden_tasks: set[int] = attrs.Factory(set)
    #: what hid the unseen steps (first few distinct causes), for the result's one sentence
    hidden: dict[str, int] = attrs.Factory(dict)
    #: task -> accesses its next step starts with (a blocking call it completes on resuming)
    deferred: dict[int, list[Access]] = attrs.Factory(dict)

    # -- objects -----------------------------------------------------------------------------
    def key_of(self, obj: object) -> str:
        """A stable name for ``obj`` in this run: class name and first-touch number."""
        key = self._keys.get(id(obj))
        if key is None:
            cls = type(obj).__name__
            number = self._class_counts.get(cls, 0) + 1
            self._class_counts[cls] = number
            key = f"{cls}#{number}"
            self._keys[id(obj)] = key
            self._keep_alive.append(obj)  # ids stay unique while the run lives
        return key

    def name_object(self, obj: object, name: str) -> None:
        """Name ``obj`` after where it was first found (``Client#1.received``) unless it already
        has a key: a container reads better as its owner's attribute than as ``list#8``."""
        if id(obj) in self._keys:
            return
        if name in self._names_taken:
            number = self._class_counts.get(name, 1) + 1
            self._class_counts[name] = number
            name = f"{name}#{number}"
        self._names_taken.add(name)
        self._keys[id(obj)] = name
        self._keep_alive.append(obj)

    def release_objects(self) -> None:
        """Drop the references that kept named objects alive (the run has ended: no more keys)."""
        self._keep_alive.clear()
        self._keys.clear()

    # -- tasks and steps -----------------------------------------------------------------------
    def add_task(self, name: str, parent: int | None) -> int:
        task_id = len(self.tasks)
        spawn_step = len(self.steps) if self.current is not None else None
        self.tasks.append(TaskInfo(task_id, name, parent, spawn_step))
        self.step_counts.append(0)
        if self.current is not None:
            self.current.spawned.append(task_id)
        return task_id

    def begin_step(self, task: int) -> None:
        self.current = _OpenStep(task, self.step_counts[task], unseen=task in self.hidden_tasks)
        for access in self.deferred.pop(task, ()):
            self.access_key(access)

    def access_key(self, access: Access) -> None:
        """Record ``access`` (already keyed) in the open step."""
        self.access_named(access.obj, access.attr, access.kind, access.auto)

    def end_step(self, location: str) -> Step:
        current = self.current
        assert current is not None, "internal error in racesim - please report: no open step"
        step = Step(
            seq=len(self.steps),
            task=current.task,
            index=current.index,
            location=location,
            accesses=tuple(current.accesses),
            woke=tuple(current.woke),
            spawned=tuple(current.spawned),
            notes=tuple(current.notes),
            unseen=current.unseen,
        )
        self.steps.append(step)
        self.step_counts[current.task] += 1
        self.current = None
        return step

    # -- what a step does ------------------------------------------------------------------------
    def access(self, obj: object, attr: str, kind: AccessKind, auto: bool = False) -> None:
        if self.current is not None:
            self.access_named(self.key_of(obj), attr, kind, auto)

    def access_named(self, key: str, attr: str, kind: AccessKind, auto: bool = False) -> None:
        """An access to a key that is already a stable name (a module global, a closure cell)."""
        current = self.current
        if current is None:
            return
        mark = (key, attr, kind, auto)
        if mark not in current.seen:
            current.seen.add(mark)
            current.accesses.append(Access(key, attr, kind, auto))

    def mark_unseen(self, cause: str) -> None:
        """The running step ran code racesim cannot see (``cause`` names it)."""
        current = self.current
        if current is not None:
            current.unseen = True
            if cause not in self.hidden and len(self.hidden) < 20:
                self.hidden[cause] = len(self.steps)

    def hide_task(self, task: int, cause: str) -> None:
        """``task`` starts in code racesim cannot see: its first step is unseen."""
        self.hidden_tasks.add(task)
        if cause not in self.hidden and len(self.hidden) < 20:
            self.hidden[cause] = len(self.steps)

    def suspended(self, task: int, cause: str | None) -> None:
        """``task`` is now suspended inside hidden code (``cause``) or not (None)."""
        if cause is None:
            self.hidden_tasks.discard(task)
            return
        self.hidden_tasks.add(task)
        self.mark_unseen(cause)

    def woke(self, task: int) -> None:
        current = self.current
        if (
            current is not None
            and task != current.task
            and task not in current.woke
            and task not in current.spawned
        ):
            current.woke.append(task)

    def note(self, label: str, values: Mapping[str, object], location: str) -> None:
        current = self.current
        if current is None:
            return
        current.notes.append(
            Note(
                label=label,
                attrs=freeze_attrs(values),
                task=current.task,
                step=len(self.steps),
                position=len(current.notes),
                location=location,
            )
        )

    def trace(self) -> Trace:
        return Trace(tasks=tuple(self.tasks), steps=tuple(self.steps), hidden=tuple(self.hidden))


#: The recorder of the run executing in this thread right now, if any. Set by the engine only.
ACTIVE: Recorder | None = None


def active() -> Recorder | None:
    return ACTIVE
