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
    _streams.install()


def record_child_exit(task: Any) -> None:
    """A model task exited: a release on its nursery (its parent may pass ``__aexit__`` freely)."""
    recorder = _trace.ACTIVE
    nursery = task.parent_nursery
    if recorder is not None and recorder.current is not None and nursery is not None:
        recorder.access(nursery, "", "release")
        if nursery.cancel_scope.cancel_called:  # a child failed: trio cancels every sibling
            recorder.access(nursery.cancel_scope, "", "release")
