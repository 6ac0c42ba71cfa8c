"""``RunLog``: the harness's ledger of one agent run (not tracked, not part of the system).

Every event the run emitted, in order, and why any was dropped; ``send`` records an event as
emitted (the note ``emit:<type>``, attrs ``run``, ``user``, ``seq``) and hands it to a bridge. Only
the run's own task writes it, and the scenario reads it after the nursery closes, so it needs no
synchronisation. The agent and its tool dispatcher both emit through it, which is why it lives
here and not in either of their modules: neither imports the other for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sim

if TYPE_CHECKING:
    from .bridge import AgentWebSocketBridge
    from .events import AgentEvent, UserContext


class RunLog:
    """What one run emitted, why any event was dropped, and what its creation saw."""

    def __init__(self, context: UserContext, seen_at_creation: str = "") -> None:
        self.context = context
        self.seen_at_creation = seen_at_creation
        self.events: list[AgentEvent] = []
        self.drops: dict[int, str] = {}

    def next_seq(self) -> int:
        return len(self.events)

    def emitted(self, event: AgentEvent) -> None:
        self.events.append(event)
        sim.note(f"emit:{event.type}", run=event.origin_run, user=event.origin_user, seq=event.seq)

    def dropped(self, event: AgentEvent, reason: str) -> None:
        self.drops[event.seq] = reason

    async def send(
        self, event: AgentEvent, bridge: AgentWebSocketBridge | None, without_bridge: str
    ) -> None:
        """Record ``event`` as emitted and send it through ``bridge``; note why if it is dropped
        (``without_bridge`` when there is no bridge at all)."""
        self.emitted(event)
        if bridge is None:
            sim.note(
                f"drop:{event.type}",
                run=event.origin_run,
                user=event.origin_user,
                reason=without_bridge,
            )
            self.dropped(event, without_bridge)
            return
        reason = await bridge.send(event)
        if reason is not None:
            self.dropped(event, reason)
