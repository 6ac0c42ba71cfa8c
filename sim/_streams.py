"""Bytes carry causality: stream footprints, and delivery of in-memory streams as a decision.

**Causality.** A receive that returns bytes happens after the send that produced them. trio's
in-memory streams (``memory_stream_pair``, ``memory_stream_one_way_pair``, and through them
``StapledStream``) keep bytes in an internal ``_UnboundedByteQueue``; a receive that finds data
buffered wakes nobody, so the wake-up edges alone miss it. racesim keeps a *ledger* per queue: every
``put`` during a run becomes a ``Chunk`` object that the putting step releases, and every read
acquires exactly the chunks whose bytes it returned, partial reads included (a read of 3 bytes of a
10-byte chunk acquires that chunk; the next read acquires it again). So the happens-before edge goes
from the send that produced the bytes, not from whatever was sent last. The queue itself is
released by every put and close, and acquired by a read that drains it or finds it empty (its
result depended on everything put so far): that is the dependency ``dpor`` needs between two sends
(byte order) and between a send and a read that could have seen its bytes. A read that leaves bytes
behind commutes with later puts and touches only its chunks. ``lockstep_stream_pair`` needs nothing
here: every state change of it goes through a ParkingLot, which :mod:`._primitives` records.

**Delivery as a decision** (:func:`explore_delivery`). By default bytes move to the receiver inside
``send_all``, as in trio. A scenario that calls ``sim.explore_delivery()`` makes every one-way
in-memory link created afterwards in that run (both directions of a ``memory_stream_pair``) hold
its bytes *in flight* until the strategy chooses to move them. Each link is a pseudo-task of the
model: ``linkN`` delivers the next piece in flight — a sent chunk whole, or with ``partial=True``
each chunk of two bytes or more in two pieces (its halves), so a read can land between them — and
finally the end-of-stream marker; ``linkN/break`` (with ``breaks=True``) breaks the link, at any
point until its stream ended: bytes in flight are lost, the receiver sees end-of-stream, later sends
raise ``trio.BrokenResourceError``. Modelling the choices as two pseudo-tasks that never disable
each other except through a recorded conflict (rather than as one task with a "how much" choice)
keeps DPOR's assumptions: an enabled transition stays enabled until it runs or a dependent step
runs. ``linkN`` is enabled only while something is in flight; the step that puts bytes into an idle
link records a wake-up of it, so the delivery is ordered after that send. Both are ordinary
candidates, so every strategy explores them, tokens carry them by name, and ``dpor`` sees their
footprints (the chunks and queues they touch) like any step's.
"""

from __future__ import annotations

import functools
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs
import trio
import trio.testing
from trio import _socket as trio_socket
from trio.testing import _memory_streams as memory_streams

from . import _trace

if TYPE_CHECKING:
    from collections.abc import Callable

_installed = False
_Queue = memory_streams._UnboundedByteQueue


class Chunk:
    """The bytes of one ``put``: released by the sending step, acquired by every read of them."""

    __slots__ = ("__weakref__",)


@attrs.define(eq=False)
class _Ledger:
    recorder: _trace.Recorder
    entries: deque[list[Any]]  #: [Chunk or None (put outside a step), bytes unread, size]


_LEDGERS: weakref.WeakKeyDictionary[Any, _Ledger] = weakref.WeakKeyDictionary()


def _ledger(queue: Any, recorder: _trace.Recorder) -> _Ledger:
    ledger = _LEDGERS.get(queue)
    if ledger is None or ledger.recorder is not recorder:
        size = len(queue._data)
        entries: deque[list[Any]] = deque([[None, size, size]] if size else [])
        ledger = _LEDGERS[queue] = _Ledger(recorder, entries)
    return ledger


def _next_piece(queue: Any, partial: bool) -> int:
    """Bytes the next delivery moves out of ``queue``: the rest of its oldest chunk, or the first
    half of that chunk when ``partial`` and none of it has moved yet."""
    recorder = _trace.ACTIVE
    if recorder is None or not queue._data:
        return len(queue._data)
    entries = _ledger(queue, recorder).entries
    if not entries:
        return len(queue._data)
    _, left, size = entries[0]
    return size // 2 if partial and left == size >= 2 else int(left)


def _record_put(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def put(self: Any, data: Any) -> None:
        recorder = _trace.ACTIVE
        if recorder is None:
            original(self, data)
            return
        ledger = _ledger(self, recorder)
        before = len(self._data)
        try:
            original(self, data)
        except trio.ClosedResourceError:  # found it closed: ordered after the close
            recorder.access(self, "", "acquire")
            raise
        added = len(self._data) - before
        chunk = Chunk() if recorder.current is not None else None
        if added:
            ledger.entries.append([chunk, added, added])
        if chunk is not None:
            if added:
                recorder.access(chunk, "", "release")
            recorder.access(self, "", "release")

    return put


def _record_get(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_impl(self: Any, max_bytes: int | None) -> Any:
        recorder = _trace.ACTIVE
        if recorder is None:
            return original(self, max_bytes)
        entries = _ledger(self, recorder).entries
        result = original(self, max_bytes)
        left = len(result)
        while left and entries:
            head = entries[0]
            taken = min(left, head[1])
            head[1] -= taken
            left -= taken
            if head[0] is not None:
                recorder.access(head[0], "", "acquire")
            if head[1] == 0:
                entries.popleft()
        if not self._data:
            recorder.access(self, "", "acquire")
        return result

    return get_impl


def _record_would_block(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_nowait(self: Any, max_bytes: int | None = None) -> Any:
        try:
            return original(self, max_bytes)
        except trio.WouldBlock:
            recorder = _trace.ACTIVE
            if recorder is not None:
                recorder.access(self, "", "acquire")
            raise

    return get_nowait


def _record_close(original: Callable[..., Any], *, wipe: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    def close(self: Any) -> None:
        recorder = _trace.ACTIVE
        if recorder is not None and wipe:
            _ledger(self, recorder).entries.clear()
        original(self)
        if recorder is not None:
            recorder.access(self, "", "release")

    return close


# -- sockets -------------------------------------------------------------------------------------------
class Wire:
    """One direction of a socket connection inside this process: a ledger of the bytes sent on
    it (chunks by stream offset), so a receive acquires exactly the sends its bytes came from."""

    __slots__ = ("__weakref__", "chunks", "received", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.chunks: deque[tuple[Chunk, int]] = deque()  #: (chunk, end offset), in order


_WIRES: dict[object, Wire] = {}
_wires_of: list[_trace.Recorder | None] = [None]
_PARTNERS: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()


def _wire(sock: Any, sending: bool, recorder: _trace.Recorder) -> Wire | None:
    """The wire ``sock`` sends on (or receives from): keyed by the connection's two addresses,
    or by the pair for sockets made with ``trio.socket.socketpair``; None when unknown."""
    if _wires_of[0] is not recorder:
        _WIRES.clear()
        _wires_of[0] = recorder
    partner = _PARTNERS.get(sock)
    key: object
    if partner is not None:
        pair, side = partner
        key = (pair, side if sending else 1 - side)
    else:
        try:
            local, remote = sock._sock.getsockname(), sock._sock.getpeername()
        except OSError:
            return None
        if not local or not remote:  # an unnamed AF_UNIX socket: its peer cannot be told
            return None
        key = (str(local), str(remote)) if sending else (str(remote), str(local))
    wire = _WIRES.get(key)
    if wire is None:
        wire = _WIRES[key] = Wire()
    return wire


def _sent_on(sock: Any, size: int) -> None:
    recorder = _trace.ACTIVE
    if recorder is None or recorder.current is None or size <= 0:
        return
    wire = _wire(sock, True, recorder)
    if wire is not None:
        chunk = Chunk()
        wire.sent += size
        wire.chunks.append((chunk, wire.sent))
        recorder.access(chunk, "", "release")
        recorder.access(wire, "", "release")


def _received_on(sock: Any, size: int) -> None:
    recorder = _trace.ACTIVE
    if recorder is None or recorder.current is None or size <= 0:
        return
    wire = _wire(sock, False, recorder)
    if wire is None:
        return
    start = wire.received
    wire.received += size
    for chunk, end in wire.chunks:
        if end > start:
            recorder.access(chunk, "", "acquire")
        if end >= wire.received:
            break
    while wire.chunks and wire.chunks[0][1] <= wire.received:
        wire.chunks.popleft()
    if wire.received >= wire.sent:
        recorder.access(wire, "", "acquire")


def _recording(sock: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    name = getattr(fn, "__name__", "")

    def call(raw: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(raw, *args, **kwargs)
        except BlockingIOError:  # found the wire empty (or full): that depends on every send
            recorder = _trace.ACTIVE
            wire = _wire(sock, name == "send", recorder) if recorder is not None else None
            if recorder is not None and wire is not None:
                recorder.access(wire, "", "acquire")
            raise
        if name == "send":
            _sent_on(sock, result)
        elif name == "recv":
            _received_on(sock, len(result))
        else:
            _received_on(sock, result)
        return result

    return call


def _record_socket_io(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``SocketType._nonblocking_helper``: the syscall runs inside it, in the step that
    does it, so a send is recorded where its bytes left and a receive where they arrived."""

    @functools.wraps(original)
    def helper(self: Any, wait_fn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if _trace.ACTIVE is not None and getattr(fn, "__name__", "") in _SOCKET_IO:
            fn = _recording(self, fn)
        return original(self, wait_fn, fn, *args, **kwargs)

    return helper


_SOCKET_IO = frozenset({"send", "recv", "recv_into"})


def _pair_sockets(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def socketpair(*args: Any, **kwargs: Any) -> Any:
        left, right = original(*args, **kwargs)
        pair = id(left)
        _PARTNERS[left] = (pair, 0)
        _PARTNERS[right] = (pair, 1)
        return left, right

    return socketpair


# -- delivery as a decision ------------------------------------------------------------------------
@attrs.define(eq=False)
class Link:
    """One direction of an in-memory stream whose delivery the strategy decides."""

    name: str
    send: Any  #: the MemorySendStream
    receive: Any  #: the MemoryReceiveStream
    deliver: int  #: pseudo-task id of "deliver the next piece"
    broken_id: int | None  #: pseudo-task id of "break the link", when breaks are explored
    partial: bool  #: a chunk of 2 bytes or more moves in two pieces (its halves)
    broken: bool = False
    ended: bool = False  #: the end-of-stream marker was delivered
    awake: bool = False  #: something was in flight when last looked at

    def in_flight(self) -> bool:
        outgoing = self.send._outgoing
        return not (self.broken or self.ended) and (bool(outgoing._data) or outgoing._closed)

    def actions(self) -> list[int]:
        found = [self.deliver] if self.in_flight() else []
        if self.broken_id is not None and not (self.broken or self.ended):
            found.append(self.broken_id)
        return found

    def run(self, action: int) -> str:
        """Do ``action`` (one of this link's ids); returns the step's location text."""
        outgoing = self.send._outgoing
        if action == self.broken_id:
            lost = len(outgoing._data)
            recorder = _trace.ACTIVE
            if recorder is not None:
                _ledger(outgoing, recorder).entries.clear()
                recorder.access(outgoing, "", "release")
            outgoing._data = bytearray()
            self.broken = self.ended = True
            self.awake = False
            self.receive.put_eof()
            return f"break {self.name} ({lost} bytes lost)"
        size = _next_piece(outgoing, self.partial)
        if size == 0:  # only the end-of-stream marker is in flight
            _pump(self, None)
            self.ended = True
            self.awake = False
            return f"deliver end of {self.name}"
        _pump(self, size)
        self.awake = self.in_flight()
        return f"deliver {size} bytes on {self.name}"


def _pump(link: Link, size: int | None) -> None:
    try:
        memory_streams.memory_stream_pump(link.send, link.receive, max_bytes=size)
    except trio.BrokenResourceError:  # the receiver closed its end: later sends fail, as in trio
        link.broken = True


@attrs.define(eq=False)
class Links:
    """The links of one run (owned by the controller); see the module docstring."""

    add_task: Callable[[str], int]  #: registers a pseudo-task with the controller, returns its id
    partial: bool = False
    breaks: bool = False
    enabled: bool = False
    links: list[Link] = attrs.Factory(list)
    by_id: dict[int, Link] = attrs.Factory(dict)

    def actions(self) -> list[int]:
        found: list[int] = []
        for link in self.links:
            found.extend(link.actions())
        return found

    def pending(self) -> bool:
        return any(link.in_flight() for link in self.links)

    def run(self, action: int) -> str:
        return self.by_id[action].run(action)

    def link(self, send: Any, receive: Any) -> None:
        name = f"link{len(self.links) + 1}"
        deliver = self.add_task(name)
        broken = self.add_task(f"{name}/break") if self.breaks else None
        link = Link(name, send, receive, deliver, broken, self.partial)
        self.links.append(link)
        for task_id in (deliver, broken):
            if task_id is not None:
                self.by_id[task_id] = link

        async def sent() -> None:  # trio calls the hook with await
            _sent(link)

        send.send_all_hook = sent
        send.close_hook = functools.partial(_sent, link)


def _sent(link: Link) -> None:
    """Bytes (or the end of the stream) entered ``link``: wake it if it was idle."""
    if link.broken:
        link.send._outgoing._data = bytearray()
        recorder = _trace.ACTIVE
        if recorder is not None:
            _ledger(link.send._outgoing, recorder).entries.clear()
        if not link.send._outgoing._closed:
            raise trio.BrokenResourceError(f"racesim broke {link.name} (a chosen disconnect)")
        return
    if not link.awake and link.in_flight():
        link.awake = True
        recorder = _trace.ACTIVE
        if recorder is not None:
            recorder.woke(link.deliver)


#: The links of the run executing now (set by the controller while its gate is installed).
ACTIVE: Links | None = None


def explore_delivery(*, partial: bool = True, breaks: bool = True) -> None:
    """Make delivery on in-memory streams a scheduling decision for the rest of this run.

    Call it in a scenario before creating ``trio.testing.memory_stream_pair()`` (or
    ``memory_stream_one_way_pair()``): bytes sent on those streams stay in flight until the
    strategy delivers them, whole or (``partial=True``) half of a chunk at a time, or
    (``breaks=True``) breaks the link while they are in flight. Outside a racesim run it does
    nothing, so the scenario still runs under plain ``trio.run``.
    """
    links = ACTIVE
    if links is not None:
        links.enabled = True
        links.partial = partial
        links.breaks = breaks


def _link_pairs(original: Callable[[], Any]) -> Callable[[], Any]:
    @functools.wraps(original)
    def memory_stream_one_way_pair() -> Any:
        send, receive = original()
        links = ACTIVE
        if links is not None and links.enabled:
            links.link(send, receive)
        return send, receive

    return memory_stream_one_way_pair


def install() -> None:
    """Wrap trio's in-memory streams (idempotent). Called by :func:`._primitives.install`."""
    global _installed
    if _installed:
        return
    _installed = True
    wrappers: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
        "put": _record_put,
        "_get_impl": _record_get,
        "get_nowait": _record_would_block,
        "close": functools.partial(_record_close, wipe=False),
        "close_and_wipe": functools.partial(_record_close, wipe=True),
    }
    for name, wrap in wrappers.items():
        setattr(_Queue, name, wrap(getattr(_Queue, name)))
    sockets: Any = trio_socket._SocketType
    sockets._nonblocking_helper = _record_socket_io(sockets._nonblocking_helper)
    trio.socket.socketpair = trio_socket.socketpair = _pair_sockets(trio_socket.socketpair)
    pairs = _link_pairs(memory_streams.memory_stream_one_way_pair)
    memory_streams.memory_stream_one_way_pair = pairs
    trio.testing.memory_stream_one_way_pair = pairs
