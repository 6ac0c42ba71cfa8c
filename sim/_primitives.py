"""Footprints of trio's own objects: sync primitives, memory channels, nurseries, cancel scopes.

DPOR is only sound when every effect one task can have on another is in some step's footprint, and
happens-before needs an edge for synchronisation that woke nobody (an Event already set, an
uncontended Lock, a buffered channel). trio has no hook for either, so racesim wraps the public
methods of these classes once per process: each wrapper records one access on the object into the
running step — ``release`` for operations that publish (set, release, send, close, notify, spawn,
cancel) and ``acquire`` for operations that observe (wait, acquire, receive, is_set, park) — and
then calls trio's own method unchanged. Async methods are wrapped by a plain function that records
and returns trio's coroutine, so no frame is added and the access lands in the step that called it.

Outside a racesim run (or in a task that is not part of the model) a wrapper costs one global
lookup. The two channel ends share their ``MemoryChannelState``, so send and receive touch one key.

Operations that only *observe* (``statistics()``, ``len(lot)``, ``Semaphore.value``,
``CapacityLimiter.available_tokens``, a cancel scope's ``deadline`` / ``shield`` /
``cancel_called`` / ``cancelled_caught``) record a ``read`` of the object — and of the parking lot
behind it when the answer counts waiters, because a task that blocks changes the lot. A read
conflicts with every acquire / release of the key, so DPOR reverses it against whatever changed
the state, while two observers commute. Setters that change what other tasks see record
``release``: ``CapacityLimiter.total_tokens`` (it wakes waiters), ``clone()`` of a channel end
(receivers see ``EndOfChannel`` only after every clone closed), and a cancel scope's ``deadline``,
``relative_deadline`` and ``shield``, which can cancel (or shield) checkpoints that record
nothing, so they count as a cancel: dependent on every step. A scope's owner entering and leaving
it (which changes ``is_relative``, ``relative_deadline`` and ``cancelled_caught``) records a
``write`` of the scope, which conflicts only with tasks that look at that scope.
``Semaphore.max_value`` never changes and records nothing.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import trio
from trio._core import _run as trio_run

from . import _streams, _trace

if TYPE_CHECKING:
    from collections.abc import Callable

_installed = False


def _self(instance: Any) -> Any:
    return instance


def _channel_state(channel: Any) -> Any:
    return channel._state


def _nursery_of_manager(manager: Any) -> Any:
    return getattr(manager, "_nursery", None) or manager


def _wrap(
    cls: type,
    name: str,
    kind: _trace.AccessKind,
    target: Callable[[Any], Any] = _self,
) -> None:
    original = cls.__dict__.get(name)
    if original is None:
        original = getattr(cls, name, None)
    if original is None or getattr(original, "__racesim_wrapped__", False):
        return

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None:
            recorder.access(target(self), "", kind)
        return original(self, *args, **kwargs)

    wrapper.__racesim_wrapped__ = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapper)


def install() -> None:
    """Wrap trio's primitives (idempotent). Called by the engine before the first run."""
    global _installed
    if _installed:
        return
    _installed = True
    _wrap(trio.Event, "set", "release")
    _wrap(trio.Event, "wait", "acquire")
    _wrap(trio.Event, "is_set", "acquire")
    for lock in (trio.Lock, trio.StrictFIFOLock):
        _wrap(lock, "acquire_nowait", "acquire")
        _wrap(lock, "acquire", "acquire")
        _wrap(lock, "release", "release")
        _wrap(lock, "locked", "acquire")
    _wrap(trio.Semaphore, "acquire_nowait", "acquire")
    _wrap(trio.Semaphore, "acquire", "acquire")
    _wrap(trio.Semaphore, "release", "release")
    for name in (
        "acquire_nowait",
        "acquire_on_behalf_of_nowait",
        "acquire",
        "acquire_on_behalf_of",
    ):
        _wrap(trio.CapacityLimiter, name, "acquire")
    _wrap(trio.CapacityLimiter, "release", "release")
    _wrap(trio.CapacityLimiter, "release_on_behalf_of", "release")
    _wrap(trio.Condition, "acquire_nowait", "acquire")
    _wrap(trio.Condition, "acquire", "acquire")
    for name in ("release", "notify", "notify_all", "wait"):
        _wrap(trio.Condition, name, "release")
    lot = trio.lowlevel.ParkingLot
    _wrap(lot, "park", "acquire")
    for name in ("unpark", "unpark_all", "repark", "repark_all"):
        _wrap(lot, name, "release")
    send = trio.MemorySendChannel
    receive = trio.MemoryReceiveChannel
    for name in ("send_nowait", "send", "close", "aclose"):
        _wrap(send, name, "release", _channel_state)
    for name in ("receive_nowait", "receive"):
        _wrap(receive, name, "acquire", _channel_state)
    for name in ("close", "aclose"):
        _wrap(receive, name, "release", _channel_state)
    _wrap(trio.Nursery, "start_soon", "release")
    _wrap(trio.Nursery, "start", "release")
    _wrap(trio_run.NurseryManager, "__aexit__", "acquire", _nursery_of_manager)
    _wrap(trio.CancelScope, "cancel", "release")
    _install_observers()
    _streams.install()


def _lot_of(primitive: Any) -> Any:
    return primitive._lot


def _record(
    cls: type,
    name: str,
    kind: _trace.AccessKind,
    *targets: Callable[[Any], Any],
) -> None:
    """Wrap method ``name`` to record ``kind`` on every object ``targets`` give (default: self)."""
    original = cls.__dict__.get(name)
    if original is None:
        original = getattr(cls, name)
    chosen = targets or (_self,)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None:
            for target in chosen:
                recorder.access(target(self), "", kind)
        return original(self, *args, **kwargs)

    setattr(cls, name, wrapper)


def _record_property(
    cls: type,
    name: str,
    read: tuple[Callable[[Any], Any], ...] = (_self,),
    write: _trace.AccessKind | None = None,
) -> None:
    """Replace property (or slot) ``name`` by one that records a ``read`` of every ``read``
    target, and ``write`` of the object on assignment; trio's own accessors do the work."""
    original = cls.__dict__[name]
    getter = original.__get__
    setter = getattr(original, "__set__", None) if write is not None else None

    def get(self: Any) -> Any:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None:
            for target in read:
                recorder.access(target(self), "", "read")
        return getter(self, cls)

    def put(self: Any, value: Any) -> None:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None and write is not None:
            recorder.access(self, "", write)
        assert setter is not None
        setter(self, value)

    doc = getattr(original, "__doc__", None)
    setattr(cls, name, property(get, put if setter is not None else None, doc=doc))


def _record_repark(lot: type, name: str) -> None:
    """``repark`` also changes the lot it moves tasks to (``len`` of both changes)."""
    original = lot.__dict__[name]

    @functools.wraps(original)
    def wrapper(self: Any, new_lot: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None:
            recorder.access(new_lot, "", "release")
        return original(self, new_lot, *args, **kwargs)

    setattr(lot, name, wrapper)


def _cancelled_caught_slot(scope: type) -> None:
    """``cancelled_caught`` is a plain attrs slot: wrap it in a property that records a read, and
    a write once the scope was entered (the owner's exit sets it; ``__init__`` does not count)."""
    name = "cancelled_caught"
    slot = scope.__dict__[name]

    def get(self: Any) -> bool:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None:
            recorder.access(self, "", "read")
        return bool(slot.__get__(self, scope))

    def put(self: Any, value: bool) -> None:
        recorder = _trace.ACTIVE
        if recorder is not None and recorder.current is not None and self._has_been_entered:
            recorder.access(self, "", "write")
        slot.__set__(self, value)

    setattr(scope, name, property(get, put, doc=slot.__doc__))


def _install_observers() -> None:
    """Footprints of the operations that observe or reconfigure trio's objects (see the essay)."""
    lot = trio.lowlevel.ParkingLot
    for name in ("__len__", "__bool__", "statistics"):
        _record(lot, name, "read")
    _record(lot, "break_lot", "release")
    for name in ("repark", "repark_all"):
        _record_repark(lot, name)
    _record(trio.Event, "statistics", "read")
    for lock in (trio.Lock, trio.StrictFIFOLock):
        _record(lock, "statistics", "read", _self, _lot_of)
    _record(trio.Condition, "statistics", "read", _self, _lot_of)
    _record(trio.Condition, "locked", "read")
    _record(trio.Semaphore, "statistics", "read", _self, _lot_of)
    _record_property(trio.Semaphore, "value")
    limiter = trio.CapacityLimiter
    _record(limiter, "statistics", "read", _self, _lot_of)
    _record_property(limiter, "total_tokens", write="release")
    _record_property(limiter, "borrowed_tokens")
    _record_property(limiter, "available_tokens")
    for end in (trio.MemorySendChannel, trio.MemoryReceiveChannel):
        _record(end, "statistics", "read", _channel_state)
        _record(end, "clone", "release", _channel_state)
    scope = trio.CancelScope
    for name in ("deadline", "relative_deadline", "shield"):
        _record_property(scope, name, write="release")
    for name in ("is_relative", "cancel_called"):
        _record_property(scope, name)
    _cancelled_caught_slot(scope)
    _record(scope, "__enter__", "write")
    _record(scope, "_close", "write")  # NurseryManager calls _close, not __exit__


def record_child_exit(task: Any) -> None:
    """A model task exited: a release on its nursery (its parent may pass ``__aexit__`` freely)."""
    recorder = _trace.ACTIVE
    nursery = task.parent_nursery
    if recorder is not None and recorder.current is not None and nursery is not None:
        recorder.access(nursery, "", "release")
        if nursery.cancel_scope.cancel_called:  # a child failed: trio cancels every sibling
            recorder.access(nursery.cancel_scope, "", "release")
