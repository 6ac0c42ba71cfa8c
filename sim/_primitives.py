"""Footprints of trio's own objects: sync primitives, memory channels, nurseries, cancel scopes.

DPOR is only sound when every effect one task can have on another is in some step's footprint, and
happens-before needs an edge for synchronisation that woke nobody (an Event already set, an
uncontended Lock, a buffered channel). trio has no hook for either, so racesim wraps the public
methods of these classes once per process: each wrapper records one access on the object into the
running step — ``release`` for operations that publish (set, release, send, close, notify, spawn,
cancel), ``acquire`` for operations that take (wait, acquire, receive), ``read`` for ones that only
look (is_set, locked, a failed ``*_nowait``) — and then calls trio's own method unchanged.

Blocked is not an event. A blocking call (``acquire``, ``wait``, ``send``, ``receive``) is wrapped
by a coroutine that opens an *attempt*; when the step ends with the task blocked, the controller
calls :func:`record_blocked`, which removes what the attempt recorded and records it, as one
acquisition, at the start of the task's next step (the one that runs after the handoff). The
blocked step keeps what it did before the call (a Condition's wait keeps releasing its lock) and
only joins the waiters. A send that parks offers its value: the receiver that takes it completes
one transfer, whichever end came first.

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
import math
import os
import sys
from typing import TYPE_CHECKING, Any

import trio
from trio import _channel as trio_channel
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


def _wrap_nowait(
    cls: type,
    name: str,
    kind: _trace.AccessKind | Callable[[Any], _trace.AccessKind],
    target: Callable[[Any], Any] = _self,
) -> None:
    """A non-blocking attempt: ``kind`` (or ``kind(self)`` taken before the call) when it
    succeeds; a failed one only observed the state (a ``read``), and a ``WouldBlock`` inside a
    blocking call records nothing at all (the call blocks: see :func:`record_blocked`)."""
    original = cls.__dict__.get(name) or getattr(cls, name, None)
    if original is None or getattr(original, "__racesim_wrapped__", False):
        return

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _trace.ACTIVE
        current = recorder.current if recorder is not None else None
        if current is None:
            return original(self, *args, **kwargs)
        assert recorder is not None
        taken = kind if isinstance(kind, str) else kind(self)
        if taken == "acquire" and (current.attempt is None or current.attempt[2] != "acquire"):
            # called by the program (it could have run first and failed with WouldBlock), or a
            # blocking call under a deadline (see _wrap_blocking): a take, never a handoff
            taken = "write"
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            if current.attempt is None or not isinstance(exc, trio.WouldBlock):
                recorder.access(target(self), "", "read")
            raise
        recorder.access(target(self), "", taken)
        return result

    wrapper.__racesim_wrapped__ = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapper)


def _wrap_blocking(
    cls: type,
    name: str,
    kind: _trace.AccessKind | None,
    target: Callable[[Any], Any] = _self,
    *,
    record: bool = False,
    announce: Callable[[Any], Any] | None = None,
    offers: bool = False,
    timed: _trace.AccessKind = "write",
) -> None:
    """An async call that may block, wrapped by a coroutine (the attempt starts where it is awaited,
    not where the coroutine is made, e.g. by ``start_soon``). It opens an *attempt*: if the task is
    blocked when its step
    ends, :func:`record_blocked` moves what the call recorded to the step that resumes, as one
    ``kind`` access (the acquisition belongs to the step that runs after the handoff; ``None``:
    the step that unblocked it did the whole operation, as a receiver taking a waiting send). With
    ``record`` the call records ``kind`` itself (it has no inner non-blocking attempt); with
    ``announce`` it first records a ``release`` on that object (a Condition's waiter joining);
    with ``offers`` the blocked step itself publishes (a send parked with its value is a
    ``release`` the receiver that takes it acquires: the same handoff as a send to a parked
    receiver), instead of only joining the waiters. A call under a deadline can end by timing
    out, so its acquisition is no handoff: it records ``timed`` instead of ``acquire`` and races
    with the release before it like any write (or read)."""
    original = cls.__dict__.get(name) or getattr(cls, name, None)
    if original is None or getattr(original, "__racesim_wrapped__", False):
        return

    @functools.wraps(original)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _trace.ACTIVE
        current = recorder.current if recorder is not None else None
        if current is not None:
            assert recorder is not None
            if announce is not None:
                recorder.access(announce(self), "", "release")
            obj = target(self)
            takes = kind
            if takes == "acquire" and trio.current_effective_deadline() != math.inf:
                takes = timed
            current.attempt = [len(current.accesses), recorder.key_of(obj), takes, offers]
            if record and takes is not None:
                recorder.access(obj, "", takes)
        return await original(self, *args, **kwargs)

    wrapper.__racesim_wrapped__ = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapper)


def _park(original: Callable[..., Any]) -> Callable[..., Any]:
    """``ParkingLot.park``: inside a blocking call of a primitive the park is that call's wait
    (what came before it, such as a Condition releasing its lock, keeps its place)."""

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _trace.ACTIVE
        current = recorder.current if recorder is not None else None
        if current is not None:
            assert recorder is not None
            if current.attempt is not None:
                current.attempt[0] = len(current.accesses)
            recorder.access(self, "", "acquire")
        return original(self, *args, **kwargs)

    wrapper.__racesim_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _key_at_creation(cls: type) -> None:
    """Name the object when it is made, not when first touched: the same object then has the same
    key in every execution of a scenario, whichever task reaches it first (footprints from one
    execution are compared with another's)."""
    original = getattr(cls, "__init__")  # noqa: B009  (mypy: "__init__" on an instance)
    if getattr(original, "__racesim_wrapped__", False) and "__init__" in cls.__dict__:
        return

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        recorder = _trace.ACTIVE
        if recorder is not None:
            recorder.key_of(self)

    wrapper.__racesim_wrapped__ = True  # type: ignore[attr-defined]
    cls.__init__ = wrapper  # type: ignore[misc]


def _semaphore_take(semaphore: Any) -> _trace.AccessKind:
    """Taking the last unit is an ``acquire`` (it could not have come before the release that
    made the unit free); taking one of several is a plain ``write`` that races with that release."""
    return "acquire" if semaphore._value <= 1 else "write"


def _limiter_take(limiter: Any) -> _trace.AccessKind:
    free = limiter._total_tokens - len(limiter._borrowers)
    return "acquire" if free <= 1 else "write"


def _condition_lock(condition: Any) -> Any:
    return condition._lock


def install() -> None:
    """Wrap trio's primitives (idempotent). Called by the engine before the first run."""
    global _installed
    if _installed:
        return
    _installed = True
    for cls in (
        trio.Event,
        trio.Lock,
        trio.StrictFIFOLock,
        trio.Semaphore,
        trio.CapacityLimiter,
        trio.Condition,
        trio.lowlevel.ParkingLot,
        trio_channel.MemoryChannelState,
    ):
        _key_at_creation(cls)
    _wrap(trio.Event, "set", "release")
    _wrap_blocking(trio.Event, "wait", "acquire", record=True, timed="read")
    _wrap(trio.Event, "is_set", "read")
    for lock in (trio.Lock, trio.StrictFIFOLock):
        _wrap_nowait(lock, "acquire_nowait", "acquire")
        _wrap_blocking(lock, "acquire", "acquire")
        _wrap(lock, "release", "release")
        _wrap(lock, "locked", "read")
    _wrap_nowait(trio.Semaphore, "acquire_nowait", _semaphore_take)
    _wrap_blocking(trio.Semaphore, "acquire", "acquire")
    _wrap(trio.Semaphore, "release", "release")
    _wrap_nowait(trio.CapacityLimiter, "acquire_on_behalf_of_nowait", _limiter_take)
    _wrap_blocking(trio.CapacityLimiter, "acquire_on_behalf_of", "acquire")
    _wrap(trio.CapacityLimiter, "release_on_behalf_of", "release")
    # A Condition's acquire / release are its lock's (recorded on the Lock); waiting registers
    # on the Condition, releases the lock, and on resuming holds the lock again.
    _wrap(trio.Condition, "notify", "release")
    _wrap(trio.Condition, "notify_all", "release")
    _wrap_blocking(trio.Condition, "wait", "acquire", _condition_lock, announce=_self)
    lot = trio.lowlevel.ParkingLot
    if not getattr(lot.park, "__racesim_wrapped__", False):
        lot.park = _park(lot.park)  # type: ignore[method-assign]
    for name in ("unpark", "unpark_all", "repark", "repark_all"):
        _wrap(lot, name, "release")
    send = trio.MemorySendChannel
    receive = trio.MemoryReceiveChannel
    _wrap_nowait(send, "send_nowait", "release", _channel_state)
    _wrap_blocking(send, "send", None, _channel_state, offers=True)
    _wrap_nowait(receive, "receive_nowait", "acquire", _channel_state)
    _wrap_blocking(receive, "receive", "acquire", _channel_state)
    for end in (send, receive):
        _wrap(end, "close", "release", _channel_state)
        _wrap(end, "aclose", "release", _channel_state)
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
            if kind == "read" and _by_trio():
                return original(self, *args, **kwargs)
            for target in chosen:
                recorder.access(target(self), "", kind)
                if name == "statistics":  # counts the parked tasks: blocked attempts' key
                    recorder.access(target(self), "waiters", kind)
        return original(self, *args, **kwargs)

    setattr(cls, name, wrapper)


_TRIO_DIR = os.path.dirname(trio.__file__) + os.sep


def _by_trio(depth: int = 2) -> bool:
    """The observer was called by trio's own code (``if self._lot:`` inside ``release``), not by
    the program: the operation that called it is recorded as what it is."""
    return sys._getframe(depth).f_code.co_filename.startswith(_TRIO_DIR)


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
        if recorder is not None and recorder.current is not None and not _by_trio():
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
        if recorder is not None and recorder.current is not None and not _by_trio():
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


def record_blocked(recorder: _trace.Recorder) -> None:
    """The running task's step ends with the task blocked. If a blocking call of a primitive
    blocked it, the attempt is not an event: what the call recorded moves to the task's next
    step as the access it completes with, and this step only joins the waiters: an ``acquire`` of
    ``(key, "waiters")`` (a sync kind, so never a data race; with an attribute, so no
    happens-before edge), which ``statistics()``-style reads observe."""
    current = recorder.current
    if current is None or current.attempt is None:
        return
    position, key, kind, offers = current.attempt
    assert isinstance(position, int) and isinstance(key, str)
    del current.accesses[position:]
    current.seen = {(a.obj, a.attr, a.kind, a.auto) for a in current.accesses}
    if offers:
        recorder.access_key(_trace.Access(key, "", "release"))
    else:
        recorder.access_key(_trace.Access(key, "waiters", "acquire"))
    if kind is not None:
        recorder.deferred[current.task] = [_trace.Access(key, "", kind)]  # type: ignore[arg-type]


def record_child_exit(task: Any) -> None:
    """A model task exited: a release on its nursery (its parent may pass ``__aexit__`` freely)."""
    recorder = _trace.ACTIVE
    nursery = task.parent_nursery
    if recorder is not None and recorder.current is not None and nursery is not None:
        recorder.access(nursery, "", "release")
        if nursery.cancel_scope.cancel_called:  # a child failed: trio cancels every sibling
            recorder.access(nursery.cancel_scope, "", "release")
