"""``ToolDispatcher``: runs an agent's tools and emits ``tool_executing`` / ``tool_completed``.

A dispatcher belongs to one user context and emits through its bridge, stamping each event with
*its own* context. That is harmless for a per-user dispatcher and is the cross-user leak when one
dispatcher serves everybody (the legacy ``_legacy_dispatcher``): user B's tool events go out as
user A's run. With no bridge (``websocket_bridge=None``, what the shipped fix passes) both tool
events are dropped silently — the call still succeeds, which is why nothing noticed.

The tool call itself does no I/O in the model (no schedule point): the race windows are in wiring
and delivery, and every extra checkpoint multiplies the schedules to explore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sim

from .events import TOOL_COMPLETED, TOOL_EXECUTING, AgentEvent

if TYPE_CHECKING:
    from .bridge import AgentWebSocketBridge
    from .events import UserContext
    from .runlog import RunLog


@sim.tracked
class ToolDispatcher:
    """Executes tools for ``context``'s user and reports them through ``bridge``."""

    def __init__(
        self,
        context: UserContext,
        bridge: AgentWebSocketBridge | None,
        *,
        admin_tools: bool = False,
    ) -> None:
        self.context = context
        self.bridge = bridge
        self.admin_tools = admin_tools

    async def execute(self, tool: str, log: RunLog) -> str:
        """Run ``tool`` for ``log``'s run, emitting its two events; returns the tool's result."""
        await self._emit(TOOL_EXECUTING, tool, log)
        result = f"{tool} ok"
        await self._emit(TOOL_COMPLETED, tool, log)
        return result

    async def _emit(self, type: str, tool: str, log: RunLog) -> None:
        event = AgentEvent.of(type, log.context, log.next_seq(), tool).stamped(self.context)
        await log.send(event, self.bridge, "tool dispatcher has no websocket bridge")


async def create_tool_dispatcher_for_user(
    user_context: UserContext,
    websocket_bridge: AgentWebSocketBridge | None = None,
    enable_admin_tools: bool = False,
) -> ToolDispatcher:
    """A dispatcher for one user (the real factory's signature; no I/O in the model)."""
    return ToolDispatcher(user_context, websocket_bridge, admin_tools=enable_admin_tools)
