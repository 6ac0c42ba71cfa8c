"""An agent run: emits the five events in a valid shape and calls its tools.

``Agent.run`` emits ``agent_started``, ``agent_thinking`` once per thinking step, one
``tool_executing`` / ``tool_completed`` pair per tool (through its :class:`ToolDispatcher`), and
``agent_completed``. Lifecycle events go through the bridge the agent was given at creation — read
once, never refreshed, as the seed's agents did. An agent created without a bridge still runs; its
events are dropped. What the registry saw while creating it (e.g. "session u1 had a websocket
manager but no bridge yet") is kept in ``seen_at_creation`` for failure messages.

:class:`RunLog` is the harness's ledger of one run (not tracked, not part of the system): every
event the run emitted, in order, and why any was dropped. Only the run's own task writes it, and the
scenario reads it after the nursery closes, so it needs no synchronisation. Emission is recorded as
the note ``emit:<type>`` (attrs ``run``, ``user``, ``seq``) where the event is produced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sim

from .events import AGENT_COMPLETED, AGENT_STARTED, AGENT_THINKING, AgentEvent

if TYPE_CHECKING:
    from .bridge import AgentWebSocketBridge
    from .dispatcher import ToolDispatcher
    from .events import UserContext


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


@sim.tracked
class Agent:
    """One agent run for ``context``, wired at creation to ``bridge`` and ``dispatcher``."""

    def __init__(
        self,
        context: UserContext,
        bridge: AgentWebSocketBridge | None,
        dispatcher: ToolDispatcher,
        *,
        seen_at_creation: str = "",
    ) -> None:
        self.context = context
        self.bridge = bridge
        self.dispatcher = dispatcher
        self.log = RunLog(context, seen_at_creation)

    async def run(self, thinking_steps: int, tools: int) -> None:
        await self._emit(AGENT_STARTED)
        for _ in range(thinking_steps):
            await self._emit(AGENT_THINKING)
        for number in range(tools):
            await self.dispatcher.execute(f"tool{number}", self.log)
        await self._emit(AGENT_COMPLETED)

    async def _emit(self, type: str) -> None:
        log = self.log
        event = AgentEvent.of(type, self.context, log.next_seq())
        await log.send(event, self.bridge, "agent has no websocket bridge")
