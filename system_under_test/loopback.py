"""trio-websocket over real TCP sockets on 127.0.0.1: the ``loopback`` transport (a smoke mode).

Each connection is a real listening socket, a real client socket and trio-websocket's opening
handshake between them; a send is ``send_message`` on the server's websocket, the reader task
calls ``get_message`` and hands each event to the client connection, and a drop closes the
server's websocket (the client reads nothing more from it: a ``trio.Event`` the reader checks,
so the drop and each read are ordered for racesim). Everything in between — the kernel, trio's I/O waits, trio-websocket's own
reader tasks — is outside racesim's control, so this mode is explored with a sampled strategy
(``random``) and proves that the model runs over a real network stack, not that an interleaving
is absent. Acknowledgements work as in :mod:`.frames` (one per accepted message, on a channel).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio
import trio_websocket

import sim

from .transport import decode, encode

if TYPE_CHECKING:
    from .client import ClientConnection
    from .events import AgentEvent

HOST = "127.0.0.1"


def _drop(event: AgentEvent, reason: str) -> None:
    sim.note(f"drop:{event.type}", run=event.origin_run, user=event.origin_user, reason=reason)


class LoopbackConnection:
    """The server end of one real websocket connection over loopback TCP."""

    def __init__(
        self,
        client: ClientConnection,
        server_ws: trio_websocket.WebSocketConnection,
        client_ws: trio_websocket.WebSocketConnection,
        client_stream: trio.SocketStream,
    ) -> None:
        self.user = client.user
        self.number = client.number
        self.client = client
        self.server_ws = server_ws
        self.client_ws = client_ws
        self.client_stream = client_stream  #: closed by the reader when the server closed
        self.sent: list[AgentEvent] = []
        self.acked = 0
        self.closed = False
        self.acks, self.acks_seen = trio.open_memory_channel[int](math.inf)
        self.dropped = trio.Event()  #: the client's side is gone: it reads nothing more

    async def read(self) -> None:
        """The client's reader task: every message to the client, one ack each."""
        while True:
            try:
                message = await self.client_ws.get_message()
            except trio_websocket.ConnectionClosed:
                await self.client_stream.aclose()
                return
            event = decode(str(message))
            if self.dropped.is_set():
                _drop(event, f"read on connection {self.number} of {self.user} after it dropped")
            elif self.client.receive(event):
                self.acks.send_nowait(1)

    async def send(self, event: AgentEvent) -> bool:
        if self.closed:
            _drop(event, f"connection {self.number} of {self.user} is closed")
            return False
        self.sent.append(event)
        try:
            await self.server_ws.send_message(encode(event))
        except trio_websocket.ConnectionClosed:
            return False
        return True

    async def close(self) -> None:
        self.closed = True
        self.dropped.set()
        await self.server_ws.aclose()

    def unread(self) -> list[AgentEvent]:
        while True:
            try:
                self.acked += self.acks_seen.receive_nowait()
            except trio.WouldBlock:
                break
        return self.sent[self.acked :]


class LoopbackTransport:
    """Opens :class:`LoopbackConnection`\\ s; their websockets' tasks run in ``nursery``."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.connections: list[LoopbackConnection] = []

    async def open(self, client: ClientConnection) -> LoopbackConnection:
        listeners = await trio.open_tcp_listeners(0, host=HOST)
        port = listeners[0].socket.getsockname()[1]
        accepted: list[trio_websocket.WebSocketConnection] = []

        async def accept() -> None:
            stream = await listeners[0].accept()
            request = await trio_websocket.wrap_server_stream(self.nursery, stream)
            accepted.append(await request.accept())

        async with trio.open_nursery() as handshake:
            handshake.start_soon(accept, name=f"accept-{client.user}-conn{client.number}")
            stream = await trio.open_tcp_stream(HOST, port)
            client_ws = await trio_websocket.wrap_client_stream(self.nursery, stream, HOST, "/ws")
        for listener in listeners:
            await listener.aclose()
        connection = LoopbackConnection(client, accepted[0], client_ws, stream)
        name = f"reader-{client.user}-conn{client.number}"
        self.nursery.start_soon(connection.read, name=name)
        self.connections.append(connection)
        return connection

    async def shutdown(self) -> None:
        for connection in self.connections:
            if not connection.closed:
                connection.closed = True
                await connection.server_ws.aclose()
