"""The last hop: how an event the manager sends reaches the client, selected by name.

The manager talks to a user through a *connection* — the server end of one websocket — with three
operations: ``await send(event) -> bool`` (False: dropped, with a ``drop:`` note), ``await close()``
(the connection dropped: nothing more reaches the client through it) and ``unread()`` (events sent on
it that the client has not acknowledged; a closed connection's unread events are the ones it lost).
A transport makes connections for the fake clients (``await open(client_connection)``) and, at the
end of a workload, ``await shutdown()`` lets what is still in flight land and ends its tasks.

=============  ==========================================================================
transport      what a send is
=============  ==========================================================================
``model``      one synchronous call: the client has the event when ``send`` returns (the
               connection *is* the :class:`~system_under_test.client.ClientConnection`)
``memory``     a real websocket frame (wsproto) on an in-memory byte link; a link task moves
               the bytes to the client and a reader task per connection decodes them
               (:mod:`.frames`): frames in flight, partial reads and a drop with frames in
               flight are scheduling decisions
``lockstep``   the same frames with no buffer: ``send`` waits until the reader took them
``loopback``   trio-websocket over real TCP sockets on 127.0.0.1 (:mod:`.loopback`): a smoke
               mode, explored with a sampled strategy
=============  ==========================================================================

Events travel as JSON text (:func:`encode` / :func:`decode`), every field of
:class:`~system_under_test.events.AgentEvent`, so what the client decodes equals what was sent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol

import attrs

from .events import AgentEvent

if TYPE_CHECKING:
    import trio

    from .client import ClientConnection

#: Transports a workload can run over (the scenario key ``transport``); ``model`` is the default.
TRANSPORTS: tuple[str, ...] = ("model", "memory", "lockstep", "loopback")


def encode(event: AgentEvent) -> str:
    """The text of the websocket message that carries ``event``."""
    return json.dumps(attrs.asdict(event), sort_keys=True, separators=(",", ":"))


def decode(text: str) -> AgentEvent:
    """The event a websocket message carries (inverse of :func:`encode`)."""
    return AgentEvent(**json.loads(text))


class Connection(Protocol):
    """The server end of one websocket connection, as the manager uses it."""

    @property
    def user(self) -> str: ...

    @property
    def number(self) -> int: ...

    async def send(self, event: AgentEvent) -> bool: ...

    async def close(self) -> None: ...

    def unread(self) -> list[AgentEvent]: ...


class Transport(Protocol):
    """Opens connections for clients and ends them at the end of a workload."""

    async def open(self, client: ClientConnection) -> Connection: ...

    async def shutdown(self) -> None: ...


class ModelTransport:
    """The model's hop: the client connection itself receives each send synchronously."""

    async def open(self, client: ClientConnection) -> Connection:
        return client

    async def shutdown(self) -> None:
        return None


def make_transport(name: str, nursery: trio.Nursery) -> Transport:
    """The transport called ``name``; its tasks (links, readers) run in ``nursery``."""
    if name == "model":
        return ModelTransport()
    if name in ("memory", "lockstep"):
        from .frames import FrameTransport

        return FrameTransport(nursery, buffered=name == "memory")
    if name == "loopback":
        from .loopback import LoopbackTransport

        return LoopbackTransport(nursery)
    raise ValueError(f"unknown transport {name!r}; valid transports: {', '.join(TRANSPORTS)}")
