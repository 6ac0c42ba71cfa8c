"""Workloads: build a runnable scenario of the agent-registry system from a variant and parameters.

``build(variant, workload) -> (scenario_fn, order)``. ``scenario_fn`` is ``async def () -> None`` in
plain trio: it makes the manager and one fake client per user, the registry of the chosen variant,
wires it (before the requests, or concurrently with them), runs the requests and reconnects in one
nursery, and then checks the end-state properties (:mod:`~system_under_test.properties`), raising
``AssertionError`` with one line per violation. ``order`` is the happens-before order the deliveries
must respect (the notes are described in :mod:`system_under_test`). ``properties`` narrows what
is asserted (:data:`~system_under_test.properties.PROPERTIES`; all by default).

Parameters (all optional; unknown keys, wrong types or out-of-range values raise
:class:`BuildError`, a ``ValueError`` whose ``key`` names the culprit):

=======================  =======  ==========================================================
key                      default  meaning
=======================  =======  ==========================================================
``users``                1        users ``u1..uN``, each with a client connected at start
``agents_per_user``      1        agent runs per user (``u1-r0``, ``u1-r1``, ...)
``tools_per_agent``      1        tool calls per run (a tool_executing/tool_completed pair each)
``thinking_steps``       1        agent_thinking events per run
``concurrent_wiring``    false    wire in a task concurrent with the requests (else wire and
                                  let background propagation settle before any request)
``reconnects``           0        times user ``u1``'s connection drops and comes back, concurrently
                                  with the runs
``concurrent_creation``  false    create a user's agents concurrently (else one after another,
                                  then run them concurrently)
``unawaited_wiring``     false    legacy / shipped: instead of wiring the registry, call each
                                  user session's async ``set_websocket_manager`` without
                                  ``await``, as the seed report's interface-violation suite
                                  did — the coroutine never runs (racesim: ``unawaited``)
=======================  =======  ==========================================================

``transport`` (an argument of :func:`build`, the scenario key ``transport``) selects the last hop
(:mod:`.transport`): ``model`` (default) delivers in the send call; the others send real
websocket frames that reader tasks decode, spawned in a nursery around the workload. At the end
the transport lets what is in flight land before the properties are checked, so an event counts
as lost only when the system lost it.

Every task is spawned in a fixed order (users in order, then reconnects, then concurrent wiring:
the requests are already in flight when wiring starts), so the scenario is deterministic for
racesim: the same schedule gives the same run.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import attrs
import trio

from sim._order import Order

from .client import Client
from .events import (
    AGENT_COMPLETED,
    AGENT_STARTED,
    AGENT_THINKING,
    TOOL_COMPLETED,
    TOOL_EXECUTING,
    UserContext,
)
from .manager import WebSocketManager
from .properties import PROPERTIES, delivery_violations
from .registry import REGISTRIES
from .transport import TRANSPORTS, ModelTransport, make_transport

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from .agent import Agent
    from .transport import Transport

    ScenarioFn = Callable[[], Awaitable[None]]

#: The variants of the system, selected by name.
VARIANTS: tuple[str, ...] = tuple(REGISTRIES)


class BuildError(ValueError):
    """A bad variant, property or workload parameter. ``key`` names it: ``"variant"``,
    ``"properties"`` or ``"workload.<name>"``; the message says what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _count(minimum: int) -> Callable[[Any, attrs.Attribute[int], int], None]:
    def check(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
        key = f"workload.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise BuildError(
                key,
                f"workload key {attribute.name!r} must be an integer >= {minimum}, "
                f"got {type(value).__name__} {value!r}",
            )
        if value < minimum:
            raise BuildError(
                key, f"workload key {attribute.name!r} must be >= {minimum}, got {value}"
            )

    return check


def _flag(_: Any, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise BuildError(
            f"workload.{attribute.name}",
            f"workload key {attribute.name!r} must be true or false, "
            f"got {type(value).__name__} {value!r}",
        )


@attrs.frozen
class Workload:
    """The parameters of one workload (see the module docstring)."""

    users: int = attrs.field(default=1, validator=_count(1))
    agents_per_user: int = attrs.field(default=1, validator=_count(1))
    tools_per_agent: int = attrs.field(default=1, validator=_count(0))
    thinking_steps: int = attrs.field(default=1, validator=_count(0))
    concurrent_wiring: bool = attrs.field(default=False, validator=_flag)
    reconnects: int = attrs.field(default=0, validator=_count(0))
    concurrent_creation: bool = attrs.field(default=False, validator=_flag)
    unawaited_wiring: bool = attrs.field(default=False, validator=_flag)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(field.name for field in attrs.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Workload:
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise BuildError(
                f"workload.{unknown[0]}",
                f"unknown workload key {unknown[0]!r}; valid keys: {', '.join(cls.keys())}",
            )
        return cls(**values)  # type: ignore[arg-type]

    def users_names(self) -> list[str]:
        return [f"u{number}" for number in range(1, self.users + 1)]

    def contexts(self, user: str) -> list[UserContext]:
        return [
            UserContext(user, f"{user}-t{number}", f"{user}-r{number}")
            for number in range(self.agents_per_user)
        ]


def required_order(workload: Workload) -> Order:
    """The HB order deliveries must respect: per run, ``agent_started`` -> ``agent_thinking`` ->
    tool events (nested like brackets) -> ``agent_completed``; per user, ``bridge_wired`` ->
    ``agent_started``. Labels the workload never emits are left out, so none is ``missing``."""
    steps = [AGENT_STARTED]
    if workload.thinking_steps:
        steps.append(AGENT_THINKING)
    if workload.tools_per_agent:
        steps.append(TOOL_EXECUTING)
    order = Order()
    for before, after in itertools.pairwise(steps):
        order |= Order.edge(before, after, per="run")
    if workload.tools_per_agent:
        order |= Order.nested(TOOL_EXECUTING, TOOL_COMPLETED, per="run")
        order |= Order.edge(TOOL_COMPLETED, AGENT_COMPLETED, per="run")
    else:
        order |= Order.edge(steps[-1], AGENT_COMPLETED, per="run")
    return order | Order.edge("bridge_wired", AGENT_STARTED, per="user")


def build(
    variant: str,
    workload: Mapping[str, object] | Workload,
    properties: Iterable[str] = PROPERTIES,
    transport: str = "model",
) -> tuple[ScenarioFn, Order]:
    """A runnable scenario of ``variant`` under ``workload`` asserting ``properties`` (all by
    default) with events delivered over ``transport`` (:data:`~.transport.TRANSPORTS`), and the
    order it requires (empty unless ``happens_before`` is asserted)."""
    if transport not in TRANSPORTS:
        raise BuildError(
            "transport",
            f"unknown transport {transport!r}; valid transports: {', '.join(TRANSPORTS)}",
        )
    if variant not in REGISTRIES:
        raise BuildError(
            "variant", f"unknown variant {variant!r}; valid variants: {', '.join(VARIANTS)}"
        )
    chosen = tuple(properties)
    unknown = [name for name in chosen if name not in PROPERTIES]
    if unknown:
        raise BuildError(
            "properties",
            f"unknown property {unknown[0]!r}; valid properties: {', '.join(PROPERTIES)}",
        )
    params = workload if isinstance(workload, Workload) else Workload.from_mapping(workload)
    registry_class = REGISTRIES[variant]
    if params.unawaited_wiring and variant == "remediated":
        raise BuildError(
            "workload.unawaited_wiring",
            "workload key 'unawaited_wiring' needs the legacy or shipped registry (the "
            "remediated one has no per-session setter to call)",
        )

    async def scenario() -> None:
        users = params.users_names()
        clients = {user: Client(user) for user in users}
        remediated = variant == "remediated"
        manager = WebSocketManager(users, replay_under_lock=remediated, requeue_unread=remediated)
        agents: list[Agent] = []

        async def workload(transport: Transport) -> None:
            for user in users:
                manager.connect(user, await transport.open(clients[user].connect()))

            async def create_and_run(context: UserContext) -> None:
                agent = await registry.create_agent(context)
                agents.append(agent)
                await agent.run(params.thinking_steps, params.tools_per_agent)

            async def user_requests(user: str) -> None:
                created = []
                for context in params.contexts(user):
                    created.append(await registry.create_agent(context))
                agents.extend(created)
                if len(created) == 1:
                    await created[0].run(params.thinking_steps, params.tools_per_agent)
                    return
                async with trio.open_nursery() as runs:
                    for agent in created:
                        runs.start_soon(
                            agent.run,
                            params.thinking_steps,
                            params.tools_per_agent,
                            name=agent.context.run,
                        )

            async def reconnect(user: str) -> None:
                for _ in range(params.reconnects):
                    await manager.remove_connection(user)
                    connection = await transport.open(clients[user].connect())
                    await manager.add_connection(user, connection)

            async with trio.open_nursery() as nursery:
                registry = registry_class(nursery)
                if params.unawaited_wiring:
                    await wire_without_await(registry, manager, users)
                elif not params.concurrent_wiring:
                    await registry.wire(manager)
                for user in users:
                    if params.concurrent_creation:
                        for context in params.contexts(user):
                            nursery.start_soon(create_and_run, context, name=context.run)
                    else:
                        nursery.start_soon(user_requests, user, name=f"requests-{user}")
                if params.reconnects:
                    nursery.start_soon(reconnect, users[0], name=f"reconnect-{users[0]}")
                if params.concurrent_wiring:
                    nursery.start_soon(registry.wire, manager, name="wiring")
            unwired.update(registry.unwired_sessions())
            await transport.shutdown()

        unwired: dict[str, str] = {}
        if transport == "model":
            await workload(ModelTransport())
        else:
            async with trio.open_nursery() as wires:
                await workload(make_transport(transport, wires))

        received = {user: client.received() for user, client in clients.items()}
        logs = sorted((agent.log for agent in agents), key=lambda log: log.context.run)
        problems = delivery_violations(logs, received, unwired, chosen)
        if problems:
            raise AssertionError(
                f"{len(problems)} delivery violation(s) in the {variant} system:\n"
                + "\n".join(f"- {problem}" for problem in problems)
            )

    scenario.__qualname__ = scenario.__name__ = f"agent_registry_{variant}"
    order = required_order(params) if "happens_before" in chosen else Order()
    # automatic footprints for the system, and for wsproto (trio-websocket on loopback) when
    # frames carry the events
    instrument = ("system_under_test",)
    if transport != "model":
        instrument += ("wsproto", "h11", "trio_websocket")
    scenario.__racesim_instrument__ = instrument  # type: ignore[attr-defined]
    return scenario, order


async def wire_without_await(registry: Any, manager: WebSocketManager, users: list[str]) -> None:
    """The seed report's interface-violation suite: it called the sessions' *async*
    ``set_websocket_manager`` as if it were the legacy synchronous setter. Without ``await`` the
    coroutine is created and dropped; no session is ever wired."""
    for user in users:
        session = await registry.get_user_session(user)
        session.set_websocket_manager(manager, origin="interface-violation test")


@attrs.frozen
class System:
    """A buildable system: ``build(variant, workload, properties)`` and what it accepts."""

    name: str
    build: Callable[..., tuple[ScenarioFn, Order]]
    variants: tuple[str, ...]
    properties: tuple[str, ...]
    workload_keys: tuple[str, ...]
    transports: tuple[str, ...] = ("model",)  #: what ``build(..., transport=)`` accepts


#: Systems scenario files can name (``[scenario] system = "agent_registry"``).
SYSTEMS: dict[str, System] = {
    "agent_registry": System(
        "agent_registry", build, VARIANTS, PROPERTIES, Workload.keys(), TRANSPORTS
    ),
}
