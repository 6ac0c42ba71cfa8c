"""An agent run: emits the five events in a valid shape and calls its tools.

``Agent.run`` emits ``agent_started``, ``agent_thinking`` once per thinking step, one
``tool_executing`` / ``tool_completed`` pair per tool (through its :class:`ToolDispatcher`), and
``agent_completed``. Lifecycle events go through the bridge the agent was given at creation — read
once, never refreshed, as the seed's agents did. An agent created without a bridge still runs; its
events are dropped. What the registry saw while creating it (e.g. "session u1 had a websocket
manager but no bridge yet") is kept in ``seen_at_creation`` for failure messages.

The run's ledger (:class:`~system_under_test.runlog.RunLog`) lives in its own
module, shared with the tool dispatcher, so ``agent`` and ``dispatcher`` do not import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sim

from .events import AGENT_COMPLETED, AGENT_STARTED, AGENT_THINKING, AgentEvent
from .runlog import RunLog

if TYPE_CHECKING:
    from .bridge import AgentWebSocketBridge
    from .dispatcher import ToolDispatcher
    from .events import UserContext


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
