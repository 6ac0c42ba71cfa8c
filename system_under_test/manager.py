"""``WebSocketManager``: the legacy interface — connections per user, and a recovery queue.

Each known user has a :class:`UserSlot`: the current connection (or None while offline), a
recovery queue of at most :data:`RECOVERY_QUEUE_CAP` events (oldest dropped, with a ``drop:`` note)
and a ``trio.Lock`` that every send takes. ``send_to_user`` delivers under that lock, or queues
(``queue:<type>`` note) when the user is offline.

The race the seed describes lives in :meth:`WebSocketManager.add_connection`: in the legacy and
shipped systems it installs the new connection under the lock, then sleeps briefly and replays the
queue *outside* the lock — so a live send can reach the new connection before older, replayed
events (reordering), and the replay's writes to the connection are unordered with the live ones
(a data race). ``replay_under_lock=True`` (the remediated system) installs and replays in one
critical section. The sleep is ``trio.sleep(0)``: a schedule point, so racesim explores both sides
of the window instead of letting virtual time pick one.

A connection is the server end of a websocket (:mod:`.transport`): over the ``model`` transport a
send is delivered when it returns; over frames it is only *written*, and the client reads it later.
A connection that drops between the two loses what was written and not yet read. With
``requeue_unread=True`` (the remediated system) ``remove_connection`` puts the events the client
never acknowledged back into the recovery queue, in order, so the reconnect replays them: the
intent of the seed's recovery queue ("events for an offline user are kept") applied to events that
were in flight when the user went offline.

The slots are created up front for the users of a workload and never replaced, so reading the
``slots`` dict from many tasks is read-only sharing; everything that changes lives in a slot.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

import trio

import sim

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .events import AgentEvent
    from .transport import Connection

#: Events kept per offline user; older ones are dropped first.
RECOVERY_QUEUE_CAP = 50


@sim.tracked
class UserSlot:
    """What the manager knows about one user."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.connection: Connection | None = None
        self.recovery: collections.deque[AgentEvent] = collections.deque(maxlen=RECOVERY_QUEUE_CAP)
        self.lock = trio.Lock()


@sim.tracked
class WebSocketManager:
    """Connections per user; sends go to the live connection or to the user's recovery queue."""

    def __init__(
        self,
        users: Iterable[str],
        *,
        replay_under_lock: bool = False,
        requeue_unread: bool = False,
    ) -> None:
        self.slots = {user: UserSlot(user) for user in users}
        self.replay_under_lock = replay_under_lock
        self.requeue_unread = requeue_unread

    def _slot(self, user: str) -> UserSlot:
        slot = self.slots.get(user)
        if slot is None:
            raise ValueError(f"user {user!r} is not known to this WebSocketManager")
        return slot

    def connect(self, user: str, connection: Connection) -> None:
        """Install the first connection of ``user`` (setup, before any task runs)."""
        self._slot(user).connection = connection

    async def send_to_user(self, user: str, event: AgentEvent) -> bool:
        """Deliver ``event`` to ``user``'s connection; queue it while offline. True if delivered."""
        slot = self._slot(user)
        async with slot.lock:
            connection = slot.connection
            if connection is not None:
                return await connection.send(event)
            self._enqueue(slot, event)
            return False

    def _enqueue(self, slot: UserSlot, event: AgentEvent) -> None:
        queue = slot.recovery
        if len(queue) == queue.maxlen:
            oldest = queue[0]
            sim.note(
                f"drop:{oldest.type}",
                run=oldest.origin_run,
                user=oldest.origin_user,
                reason=f"recovery queue of {slot.user} full ({RECOVERY_QUEUE_CAP})",
            )
        queue.append(event)
        sim.note(f"queue:{event.type}", run=event.origin_run, user=event.origin_user)

    async def remove_connection(self, user: str) -> None:
        """The user's connection dropped: close it; sends queue until ``add_connection``."""
        slot = self._slot(user)
        async with slot.lock:
            connection = slot.connection
            if connection is not None:
                await connection.close()
                slot.connection = None
                sim.note("connection_lost", user=user, conn=connection.number)
                if self.requeue_unread:
                    for event in connection.unread():
                        self._enqueue(slot, event)

    async def add_connection(self, user: str, connection: Connection) -> None:
        """The user reconnected: install ``connection`` and replay what was queued meanwhile."""
        slot = self._slot(user)
        async with slot.lock:
            slot.connection = connection
            sim.note("connection_restored", user=user, conn=connection.number)
            if self.replay_under_lock:
                await self._replay(slot, connection)
                return
        await trio.sleep(0)
        await self._replay(slot, connection)

    async def _replay(self, slot: UserSlot, connection: Connection) -> None:
        while slot.recovery:
            await connection.send(slot.recovery.popleft())
