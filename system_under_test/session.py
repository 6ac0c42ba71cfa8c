"""``UserAgentSession``: one user's slot in the registry, holding that user's manager and bridge.

``set_websocket_manager`` is async and, in the legacy and shipped systems, not atomic: it
publishes the manager, awaits the bridge factory (a schedule point) and only then publishes the
bridge. In between, the session *has a manager but no bridge* — anyone who takes "has a manager"
for "is wired" reads no bridge. The factory registers the given context's run on the new bridge,
so when a later wiring replaces the session's bridge, agents that read the replacement are
unknown to it (the last writer wins).

``atomic=True`` (the remediated system) creates the bridge with the manager attached at
construction and publishes manager and bridge together, in one step, only when both exist.

Every completed wiring records ``bridge_wired`` (attrs ``user``, ``origin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sim

from .bridge import create_agent_websocket_bridge
from .events import UserContext

if TYPE_CHECKING:
    from .bridge import AgentWebSocketBridge
    from .manager import WebSocketManager


@sim.tracked
class UserAgentSession:
    """The per-user session: its manager and bridge, and how wiring them behaves."""

    def __init__(self, user: str, *, atomic: bool = False) -> None:
        self.user = user
        self.atomic = atomic
        self.manager: WebSocketManager | None = None
        self.bridge: AgentWebSocketBridge | None = None

    def default_context(self) -> UserContext:
        """The context a session uses when nobody passes one (no real run: registers nothing)."""
        return UserContext(self.user, f"{self.user}-session", f"{self.user}-session")

    async def set_websocket_manager(
        self, manager: WebSocketManager, context: UserContext | None = None, *, origin: str
    ) -> None:
        """Wire this session to ``manager`` through a new bridge made by the factory."""
        register = context is not None
        context = context or self.default_context()
        if self.atomic:
            bridge = await create_agent_websocket_bridge(
                context, manager, origin=origin, register_run=register
            )
            self.manager = manager
            self.bridge = bridge
        else:
            self.manager = manager
            bridge = await create_agent_websocket_bridge(
                context, origin=origin, register_run=register
            )
            bridge.attach_manager(manager)
            self.bridge = bridge
        sim.note("bridge_wired", user=self.user, origin=origin)
