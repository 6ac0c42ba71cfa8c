"""Real websocket frames on in-memory bytes: the ``memory`` and ``lockstep`` transports.

A send encodes the event as a websocket text frame with wsproto (the protocol engine under
trio-websocket) and writes the frame's bytes toward the client; a reader task per client
connection feeds what it reads to the client's wsproto connection and hands every complete message
to :meth:`~system_under_test.client.ClientConnection.receive`. The opening handshake is done
byte-for-byte between the two wsproto ends when the connection opens, before it is used.

- ``memory``: the bytes wait in the client's socket buffer (an unbounded trio memory channel) until
  the reader's next step takes them: the frames in flight. Delivery is the reader's step and a
  disconnect is the step of the task that drops the connection, so both are scheduling decisions.
  When a connection drops, frames the client has not read are lost (``drop:<type>`` notes).
- ``lockstep``: no buffer; ``send`` hands the bytes over and waits until the reader took them
  (trio's ``lockstep_stream_pair`` semantics), so nothing is in flight once a send returns.

**Schedule points** are only the model's own waits: a reader parks when its buffer is empty, a
lockstep sender until its bytes are taken, and a reader that reads at most :data:`READ_SIZE` bytes
yields between the parts of a frame (a partial read). trio's streams and trio-websocket are not
used here on purpose: ``memory_stream_pair`` checkpoints twice in every ``send_all`` and again in
``receive_some``, and trio-websocket adds its own reader task and a lock per message — decisions
in every schedule that model nothing. A separate link task relaying bytes between the ends was
measured too: on the remediated reconnect workload (two events) ``dpor`` needed 408 executions
without the reconnect where the reader alone needs 8, and more than 3,000 with it (584 without the
link) — while adding no outcome, since unread bytes are lost on a drop either way.

**Acknowledgement.** The reader sends one ack per message the client accepted on a channel to
the server end; :meth:`FrameConnection.unread` is "sent, minus acknowledged". A drop closes the
client's side in the same step that counts the acks, so a closed connection's unread events are
exactly the ones the client lost. The ack path is not itself lossy in the model.

Every cross-task effect goes through a trio memory channel or ``ParkingLot``, whose operations
racesim records, so ``dpor`` sees the send -> read -> ack dependencies and no tracked attribute is
shared between the server's tasks and the reader.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

import sim

from .transport import decode, encode

if TYPE_CHECKING:
    from .client import ClientConnection
    from .events import AgentEvent

_T = TypeVar("_T")
#: Bytes a reader takes per step (0: everything buffered). A positive size explores partial reads:
#: the reader runs with part of a frame and yields. Off by default: it multiplies the executions
#: (584 -> 2,012 with 80 bytes on the two-event reconnect workload, frames of ~117 bytes).
READ_SIZE = 0


def handshake() -> tuple[WSConnection, WSConnection]:
    """A server and a client wsproto connection after the opening handshake (no I/O)."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="sut", target="/ws")))
    if not any(isinstance(event, Request) for event in server.events()):
        raise RuntimeError("wsproto server saw no handshake request")
    client.receive_data(server.send(AcceptConnection()))
    if not any(isinstance(event, AcceptConnection) for event in client.events()):
        raise RuntimeError("wsproto client saw no handshake acceptance")
    return server, client


def _drop(event: AgentEvent, reason: str) -> None:
    sim.note(f"drop:{event.type}", run=event.origin_run, user=event.origin_user, reason=reason)


def _channel(kind: type[_T]) -> tuple[trio.MemorySendChannel[_T], trio.MemoryReceiveChannel[_T]]:
    return trio.open_memory_channel[_T](math.inf)


class FrameReader:
    """The client's reader task: bytes in, decoded messages to ``connection.receive``, one
    acknowledgement per message the client accepted."""

    def __init__(self, connection: ClientConnection, ws: WSConnection, *, lockstep: bool) -> None:
        self.connection = connection
        self.lockstep = lockstep
        self.ws = ws
        self.bytes_in, self.inbox = _channel(bytes)
        self.acks, self.acks_seen = _channel(int)
        self.arrived = trio.lowlevel.ParkingLot()  #: the reader waits here for bytes
        self.taken = trio.lowlevel.ParkingLot()  #: a lockstep sender waits here for the reader
        self.text = ""  #: a message whose frame has only partly arrived

    def feed(self, data: bytes) -> None:
        """Bytes reach the client (raises ``trio.BrokenResourceError`` once it has dropped)."""
        self.bytes_in.send_nowait(data)
        self.arrived.unpark_all()

    def end(self) -> None:
        """End of stream after the bytes already fed."""
        self.bytes_in.close()
        self.arrived.unpark_all()

    def drop(self) -> None:
        """The client's socket is gone: bytes not yet read are lost, the reader stops."""
        self.inbox.close()
        self.arrived.unpark_all()
        if self.lockstep:
            self.taken.unpark_all()

    async def run(self) -> None:
        pending = b""  # bytes read from the socket, not yet given to wsproto
        while True:
            try:
                pending += self.inbox.receive_nowait()
                if self.lockstep:
                    self.taken.unpark()
            except trio.WouldBlock:
                if not pending:
                    await self.arrived.park()
                    continue
            except trio.EndOfChannel:
                if not pending:
                    return
            except trio.ClosedResourceError:
                return
            size = READ_SIZE or len(pending)
            self.ws.receive_data(pending[:size])
            pending = pending[size:]
            self._decode()
            if pending:
                await trio.lowlevel.checkpoint()  # a partial frame read: others may run here

    def _decode(self) -> None:
        for event in self.ws.events():
            if not isinstance(event, TextMessage):
                continue
            self.text += event.data
            if event.message_finished:
                message, self.text = self.text, ""
                if self.connection.receive(decode(message)):
                    self.acks.send_nowait(1)


@sim.tracked
class FrameConnection:
    """The server end of one websocket connection whose sends are real frames."""

    def __init__(self, client: ClientConnection, *, buffered: bool) -> None:
        server_ws, client_ws = handshake()
        self.user = client.user
        self.number = client.number
        self.ws = server_ws
        self.reader = FrameReader(client, client_ws, lockstep=not buffered)
        self.buffered = buffered
        self.sent: list[AgentEvent] = []
        self.acked = 0
        self.closed = False

    async def send(self, event: AgentEvent) -> bool:
        if self.closed:
            _drop(event, f"connection {self.number} of {self.user} is closed")
            return False
        frame = self.ws.send(TextMessage(data=encode(event)))
        self.sent.append(event)
        self.reader.feed(frame)
        if not self.buffered:
            await self.reader.taken.park()
        return True

    async def close(self) -> None:
        """The connection dropped: what is in flight or unread by the client is lost."""
        self.closed = True
        self.reader.drop()
        for event in self.unread():
            _drop(event, f"sent on connection {self.number} of {self.user}, unread when it dropped")

    def unread(self) -> list[AgentEvent]:
        """Events sent here that the client has not acknowledged."""
        while True:
            try:
                self.acked += self.reader.acks_seen.receive_nowait()
            except trio.WouldBlock:
                break
        return self.sent[self.acked :]

    def finish(self) -> None:
        """End of the workload: deliver what is in flight, then end the reader."""
        self.reader.end()


class FrameTransport:
    """Opens :class:`FrameConnection`\\ s, spawning their reader (and link) tasks in ``nursery``."""

    def __init__(self, nursery: trio.Nursery, *, buffered: bool) -> None:
        self.nursery = nursery
        self.buffered = buffered
        self.connections: list[FrameConnection] = []

    async def open(self, client: ClientConnection) -> FrameConnection:
        connection = FrameConnection(client, buffered=self.buffered)
        name = f"{client.user}-conn{client.number}"
        self.nursery.start_soon(connection.reader.run, name=f"reader-{name}")
        self.connections.append(connection)
        return connection

    async def shutdown(self) -> None:
        for connection in self.connections:
            connection.finish()
