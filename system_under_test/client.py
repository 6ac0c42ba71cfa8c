"""The fake client: one websocket connection per (re)connect, recording what it receives.

A :class:`ClientConnection` is where an event counts as *delivered*: ``receive`` appends it to
``received`` and records the note named after the event type (``agent_started``, ...), with
``run`` and ``user`` of the run that produced it and ``to`` the user whose connection got it. The
required orders (``Order.chain(..., per="run")``) are stated over these delivery notes.

The connection is ``@sim.tracked``: the manager writes ``received`` only while it holds the user's
send lock, so two deliveries from different tasks are ordered by that lock — unless a component
delivers outside it (the legacy reconnect replay), which racesim then reports as a data race on
``ClientConnection.received``. A closed connection drops what it is given, as a dead socket does.

Over the ``model`` transport the connection is also the server's end
(:class:`~system_under_test.transport.Connection`): ``send`` is ``receive``, ``close`` marks it
closed, and nothing sent is ever unread. Over frames, a reader task calls ``receive`` for each
message it decodes (:mod:`~system_under_test.frames`).

:class:`Client` is the user's side across reconnects (harness bookkeeping, not tracked): the
connections in the order they were opened; what the user saw is their concatenation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sim

if TYPE_CHECKING:
    from .events import AgentEvent


@sim.tracked
class ClientConnection:
    """One websocket connection of ``user``; ``number`` counts the user's connections from 1."""

    def __init__(self, user: str, number: int) -> None:
        self.user = user
        self.number = number
        self.received: list[AgentEvent] = []
        self.closed = False

    def receive(self, event: AgentEvent) -> bool:
        """Deliver ``event`` to this connection; False (and a ``drop:`` note) when it is closed."""
        if self.closed:
            sim.note(
                f"drop:{event.type}",
                run=event.origin_run,
                user=event.origin_user,
                reason=f"connection {self.number} of {self.user} is closed",
            )
            return False
        self.received.append(event)
        sim.note(
            event.type,
            run=event.origin_run,
            user=event.origin_user,
            to=self.user,
            conn=self.number,
            seq=event.seq,
        )
        return True

    async def send(self, event: AgentEvent) -> bool:
        """The model's last hop: the client has ``event`` when this returns (no checkpoint)."""
        return self.receive(event)

    async def close(self) -> None:
        """The connection dropped: later sends are dropped."""
        self.closed = True

    def unread(self) -> list[AgentEvent]:
        """Nothing: every send was received (or dropped) synchronously."""
        return []


class Client:
    """A user's side of the websocket across reconnects."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.connections: list[ClientConnection] = []

    def connect(self) -> ClientConnection:
        connection = ClientConnection(self.user, len(self.connections) + 1)
        self.connections.append(connection)
        return connection

    def received(self) -> list[AgentEvent]:
        """Everything this user received, in arrival order across connections."""
        return [event for connection in self.connections for event in connection.received]
