"""``AgentRegistry`` in three variants: before the fix, the fix as shipped, the fix as intended.

All three keep user sessions in a dict under a ``trio.Lock``, create agents that read their
session's bridge **once**, and expose ``wire(manager)`` (what a workload calls to connect the
registry to the websocket layer) and ``create_agent(context)``.

``legacy`` — before commit 1818d5dd5, with both interfaces. ``set_websocket_manager`` returns at
once; a background task then makes the registry-level bridge (``set_websocket_bridge``, the second
interface) and propagates the manager to every session that has none, iterating the live session
dict without the lock. A request remembers whether the registry had a manager when it arrived. A
new session is wired by its first request; a session that is wired gets a fresh bridge for each
new run (per-context isolation); the request also registers its run on the registry bridge, which
the one shared ``_legacy_dispatcher`` (built with the first agent's context) sends through. The
seed's five races follow:

1. a request that arrived before the manager finds its session unwired: its agent has no bridge;
2. the manager is set but the registry bridge not yet: the shared dispatcher is created without a
   bridge, and every user's ``tool_executing`` / ``tool_completed`` is dropped from then on (the
   same window exists per session: a request that finds a manager but no bridge binds to none);
3. a session inserted while propagation iterates either makes the iteration fail
   (``RuntimeError: dictionary changed size during iteration``) or comes after it: it is never wired;
4. two concurrent creations for one user each install a bridge; the last writer's replaces the
   other's, and the first agent reads a bridge that never registered its run;
5. the shared dispatcher stamps everyone's tool events with its first user's context: user B's
   ``tool_executing`` / ``tool_completed`` are delivered to user A.

``shipped`` — the fix as committed. ``set_websocket_manager`` awaits a registry-level bridge made by
the factory from a placeholder context with no manager, and agents get
``create_tool_dispatcher_for_user(context, websocket_bridge=None)``: every ``tool_executing`` and
``tool_completed`` is dropped, on every schedule. Sessions are wired as in legacy, so the legacy
wiring races remain whenever wiring is concurrent with requests.

``remediated`` — the fix as intended. ``set_websocket_manager`` completes under the lock and then
opens the registry (a ``trio.Event``); ``create_agent`` waits for it, makes the user's session and
its one bridge (manager attached at construction) under the lock, registers the run on that bridge
before the first event, and builds a per-user dispatcher with that bridge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

import sim

from .agent import Agent
from .bridge import create_agent_websocket_bridge
from .dispatcher import ToolDispatcher, create_tool_dispatcher_for_user
from .events import UserContext
from .session import UserAgentSession

if TYPE_CHECKING:
    from .bridge import AgentWebSocketBridge
    from .manager import WebSocketManager

#: The context the legacy registry-level bridge is made with.
REGISTRY_CONTEXT = UserContext("registry", "registry", "registry")
#: The placeholder context the shipped registry-level bridge is made with (no real user or run).
PLACEHOLDER_CONTEXT = UserContext("registry", "registry-placeholder", "registry-placeholder")


@sim.tracked
class LegacyAgentRegistry:
    """Before the fix: dual interface, background wiring, one shared tool dispatcher."""

    variant = "legacy"

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.sessions: dict[str, UserAgentSession] = {}
        self.lock = trio.Lock()
        self.manager: WebSocketManager | None = None
        self.bridge: AgentWebSocketBridge | None = None
        self.propagation_error: str | None = None
        self.legacy_dispatcher: ToolDispatcher | None = None

    async def wire(self, manager: WebSocketManager) -> None:
        self.set_websocket_manager(manager)

    def set_websocket_manager(self, manager: WebSocketManager) -> None:
        """Set the manager; make the registry bridge and propagate in the background (returns
        at once)."""
        self.manager = manager
        sim.note("manager_set")
        self.nursery.start_soon(self._wire_in_background, manager, name="background-wiring")

    def set_websocket_bridge(self, bridge: AgentWebSocketBridge) -> None:
        """The second interface: the registry-level bridge (the shared dispatcher's)."""
        self.bridge = bridge

    async def _wire_in_background(self, manager: WebSocketManager) -> None:
        bridge = await create_agent_websocket_bridge(
            REGISTRY_CONTEXT, manager, origin="the registry"
        )
        self.set_websocket_bridge(bridge)
        await self._propagate(manager)

    async def _propagate(self, manager: WebSocketManager) -> None:
        """Wire every session that has no manager, iterating the live dict without the lock."""
        try:
            for session in self.sessions.values():
                if session.manager is None:
                    await session.set_websocket_manager(manager, origin="propagation")
        except RuntimeError as exc:
            self.propagation_error = f"{type(exc).__name__}: {exc}"
            sim.note("propagation_failed", error=str(exc))

    async def get_user_session(self, user: str) -> UserAgentSession:
        async with self.lock:
            session = self.sessions.get(user)
            if session is None:
                session = UserAgentSession(user)
                self.sessions[user] = session
            return session

    async def create_agent(self, context: UserContext) -> Agent:
        manager = self.manager  # what the request saw when it arrived
        session = await self.get_user_session(context.user)
        origin = f"creation of {context.run}"
        seen = []
        if session.manager is None:
            if manager is None:
                seen.append(f"the registry had no websocket manager when {context.run} arrived")
            else:  # first wiring of a new session, with this request's context
                await session.set_websocket_manager(manager, context, origin=origin)
        elif session.bridge is None:
            seen.append(f"session {context.user} had a websocket manager but no bridge yet")
        else:  # per-context isolation: a fresh bridge for this run replaces the session's
            await session.set_websocket_manager(session.manager, context, origin=origin)
        shared = self.bridge
        if shared is not None:  # the shared dispatcher routes through the registry bridge
            await shared.register_run(context)
        elif self.manager is not None:
            seen.append("the registry had a websocket manager but no bridge yet")
        await trio.sleep(0)  # constructing the agent
        bridge = session.bridge
        dispatcher = await self._dispatcher_for(context)
        return Agent(context, bridge, dispatcher, seen_at_creation="; ".join(seen))

    async def _dispatcher_for(self, context: UserContext) -> ToolDispatcher:
        if self.legacy_dispatcher is None:
            self.legacy_dispatcher = ToolDispatcher(context, self.bridge)
        return self.legacy_dispatcher

    def unwired_sessions(self) -> dict[str, str]:
        """Users whose session ended without a working bridge, and why (for failure messages)."""
        why = (
            f"propagation failed ({self.propagation_error})"
            if self.propagation_error
            else "propagation had passed before it existed"
        )
        return {
            user: why
            for user, session in self.sessions.items()
            if session.bridge is None or session.bridge.manager is None
        }


class ShippedAgentRegistry(LegacyAgentRegistry):
    """The fix as committed: a placeholder registry bridge, tool dispatchers without a bridge."""

    variant = "shipped"

    async def wire(self, manager: WebSocketManager) -> None:
        await self.set_websocket_manager(manager)

    async def set_websocket_manager(self, manager: WebSocketManager) -> None:  # type: ignore[override]
        self.manager = manager
        sim.note("manager_set")
        bridge = await create_agent_websocket_bridge(
            PLACEHOLDER_CONTEXT, origin="the registry (placeholder context)"
        )
        self.set_websocket_bridge(bridge)
        self.nursery.start_soon(self._propagate, manager, name="propagation")

    async def _dispatcher_for(self, context: UserContext) -> ToolDispatcher:
        return await create_tool_dispatcher_for_user(
            user_context=context, websocket_bridge=None, enable_admin_tools=False
        )


@sim.tracked
class RemediatedAgentRegistry:
    """The fix as intended: wired before it accepts runs; one bridge per user; runs registered."""

    variant = "remediated"

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.sessions: dict[str, UserAgentSession] = {}
        self.lock = trio.Lock()
        self.manager: WebSocketManager | None = None
        self.ready = trio.Event()

    async def wire(self, manager: WebSocketManager) -> None:
        await self.set_websocket_manager(manager)

    async def set_websocket_manager(self, manager: WebSocketManager) -> None:
        async with self.lock:
            self.manager = manager
        sim.note("manager_set")
        self.ready.set()

    async def create_agent(self, context: UserContext) -> Agent:
        await self.ready.wait()
        async with self.lock:
            session = self.sessions.get(context.user)
            if session is None:
                manager = self.manager
                assert manager is not None, "registry opened without a manager"
                session = UserAgentSession(context.user, atomic=True)
                await session.set_websocket_manager(
                    manager, origin=f"the registry for {context.user}"
                )
                self.sessions[context.user] = session
            bridge = session.bridge
        assert bridge is not None, f"session {context.user} published without a bridge"
        await bridge.register_run(context)
        dispatcher = await create_tool_dispatcher_for_user(
            user_context=context, websocket_bridge=bridge, enable_admin_tools=False
        )
        return Agent(context, bridge, dispatcher)

    def unwired_sessions(self) -> dict[str, str]:
        return {
            user: "published without a working bridge"
            for user, session in self.sessions.items()
            if session.bridge is None or session.bridge.manager is None
        }


#: Registry classes by variant name.
REGISTRIES: dict[str, type[LegacyAgentRegistry] | type[RemediatedAgentRegistry]] = {
    "legacy": LegacyAgentRegistry,
    "shipped": ShippedAgentRegistry,
    "remediated": RemediatedAgentRegistry,
}
