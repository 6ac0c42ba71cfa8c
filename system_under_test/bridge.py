"""``AgentWebSocketBridge``: the one interface agents emit through, and its factory.

A bridge knows a manager (or not yet) and a run registry ``run -> (thread, user)``. Every send
resolves the event's stamped ``run`` in the registry and hands the event to the manager for that
run's user. With no manager attached, or a run it never registered, the event is dropped: the send
returns a reason (``notify_*`` return False) and records a ``drop:<type>`` note with that reason.
Nothing is raised — the silent drop is the behaviour the seed report's systems had.

States follow the real bridge: ``UNINITIALIZED`` at construction, ``INITIALIZING`` while the factory
awaits, then ``ACTIVE`` with a manager or ``DEGRADED`` without one (``attach_manager`` makes it
``ACTIVE``); ``FAILED`` when initialisation is interrupted.

The registry and the send path share one ``trio.Lock`` per bridge, so registering a run and
resolving it from another task are ordered (the remediated system relies on it; one schedule point
per send is its price). :func:`create_agent_websocket_bridge` is async and yields once, modelling the
real factory's I/O: the window in which ``UserAgentSession`` has a manager but no bridge yet.
``origin`` says who made the bridge (for failure messages: "bridge made by propagation").
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs
import trio

import sim

from .events import (
    AGENT_COMPLETED,
    AGENT_STARTED,
    AGENT_THINKING,
    TOOL_COMPLETED,
    TOOL_EXECUTING,
    AgentEvent,
    UserContext,
)

if TYPE_CHECKING:
    from .manager import WebSocketManager


class BridgeState(enum.Enum):
    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    ACTIVE = "active"
    DEGRADED = "degraded"
    FAILED = "failed"


@attrs.frozen
class RunBinding:
    thread: str
    user: str


@sim.tracked
class AgentWebSocketBridge:
    """Routes agent events of registered runs to their users through a manager."""

    def __init__(self, context: UserContext, origin: str) -> None:
        self.context = context
        self.origin = origin
        self.state = BridgeState.UNINITIALIZED
        self.manager: WebSocketManager | None = None
        self.runs: dict[str, RunBinding] = {}
        self.lock = trio.Lock()

    def describe(self) -> str:
        return f"bridge made by {self.origin}"

    def attach_manager(self, manager: WebSocketManager) -> None:
        self.manager = manager
        self.state = BridgeState.ACTIVE

    async def register_run(self, context: UserContext) -> None:
        """Map ``context.run`` to its thread and user, so its events can be routed."""
        async with self.lock:
            self.runs[context.run] = RunBinding(context.thread, context.user)
        sim.note("run_registered", run=context.run, user=context.user)

    async def send(self, event: AgentEvent) -> str | None:
        """Route ``event``; None when handed to the manager, else why it was dropped."""
        async with self.lock:
            binding = self.runs.get(event.run)
            manager = self.manager
        if manager is None:
            reason = f"{self.describe()} has no manager ({self.state.value})"
        elif binding is None:
            reason = f"run {event.run} is unknown to the {self.describe()}"
        else:
            await manager.send_to_user(binding.user, event)
            return None
        sim.note(f"drop:{event.type}", run=event.origin_run, user=event.origin_user, reason=reason)
        return reason

    async def _notify(
        self, type: str, context: UserContext, seq: int, tool: str | None = None
    ) -> bool:
        return await self.send(AgentEvent.of(type, context, seq, tool)) is None

    async def notify_agent_started(self, context: UserContext, seq: int = 0) -> bool:
        return await self._notify(AGENT_STARTED, context, seq)

    async def notify_agent_thinking(self, context: UserContext, seq: int) -> bool:
        return await self._notify(AGENT_THINKING, context, seq)

    async def notify_tool_executing(self, context: UserContext, seq: int, tool: str) -> bool:
        return await self._notify(TOOL_EXECUTING, context, seq, tool)

    async def notify_tool_completed(self, context: UserContext, seq: int, tool: str) -> bool:
        return await self._notify(TOOL_COMPLETED, context, seq, tool)

    async def notify_agent_completed(self, context: UserContext, seq: int) -> bool:
        return await self._notify(AGENT_COMPLETED, context, seq)


async def create_agent_websocket_bridge(
    context: UserContext,
    manager: WebSocketManager | None = None,
    *,
    origin: str = "the factory",
    register_run: bool = False,
) -> AgentWebSocketBridge:
    """The factory: a bridge for ``context``, ``ACTIVE`` if ``manager`` is given, else ``DEGRADED``.

    With ``register_run`` the context's run is registered before the bridge is returned (nobody
    else can see the bridge yet, so no lock is needed). It yields once (the real factory does
    I/O), so callers that publish a manager before awaiting it open a window in which the manager
    is set and the bridge is not.
    """
    bridge = AgentWebSocketBridge(context, origin)
    if register_run:
        bridge.runs[context.run] = RunBinding(context.thread, context.user)
        sim.note("run_registered", run=context.run, user=context.user)
    bridge.state = BridgeState.INITIALIZING
    try:
        await trio.sleep(0)
    except BaseException:
        bridge.state = BridgeState.FAILED
        raise
    if manager is not None:
        bridge.attach_manager(manager)
    else:
        bridge.state = BridgeState.DEGRADED
    return bridge
