"""The system under test behaves as SUT.md says under plain trio (no racesim run involved)."""

from __future__ import annotations

import re

import pytest
import trio

import system_under_test as sut
from sim._order import Edge, Nested
from system_under_test import bridge as bridge_module
from system_under_test.agent import RunLog
from system_under_test.bridge import BridgeState, create_agent_websocket_bridge
from system_under_test.client import Client
from system_under_test.events import CRITICAL_EVENTS, AgentEvent, UserContext, shape_violations
from system_under_test.manager import RECOVERY_QUEUE_CAP, WebSocketManager
from system_under_test.properties import delivery_violations, leak_violations
from system_under_test.registry import RemediatedAgentRegistry

CONTEXT = UserContext("u1", "u1-t0", "u1-r0")


def event(type: str, seq: int, context: UserContext = CONTEXT) -> AgentEvent:
    return AgentEvent.of(type, context, seq)


# -- the remediated system ----------------------------------------------------------------------


async def test_remediated_run_delivers_the_five_events_in_order() -> None:
    client = Client("u1")
    manager = WebSocketManager(["u1"], replay_under_lock=True)
    manager.connect("u1", client.connect())
    async with trio.open_nursery() as nursery:
        registry = RemediatedAgentRegistry(nursery)
        await registry.wire(manager)
        agent = await registry.create_agent(CONTEXT)
        await agent.run(thinking_steps=1, tools=1)
    assert [e.type for e in client.received()] == list(CRITICAL_EVENTS)
    assert [e.seq for e in client.received()] == [0, 1, 2, 3, 4]
    assert agent.log.drops == {}


@pytest.mark.parametrize(
    "workload",
    [
        {},
        {"users": 2, "concurrent_wiring": True},
        {"agents_per_user": 2, "concurrent_creation": True},
        {"agents_per_user": 2, "tools_per_agent": 2, "thinking_steps": 3},
        {"reconnects": 2, "thinking_steps": 2},
        {"tools_per_agent": 0, "thinking_steps": 0},
    ],
)
async def test_remediated_scenarios_pass_under_plain_trio(workload: dict[str, object]) -> None:
    scenario, _ = sut.build("remediated", workload)
    await scenario()


async def test_remediated_runs_wait_for_wiring() -> None:
    client = Client("u1")
    manager = WebSocketManager(["u1"], replay_under_lock=True)
    manager.connect("u1", client.connect())
    async with trio.open_nursery() as nursery:
        registry = RemediatedAgentRegistry(nursery)
        created = []

        async def request() -> None:
            created.append(await registry.create_agent(CONTEXT))

        nursery.start_soon(request)
        await trio.testing.wait_all_tasks_blocked()
        assert created == []  # blocked until the registry is wired
        await registry.wire(manager)
    assert created[0].bridge is not None
    assert created[0].bridge.state is BridgeState.ACTIVE


# -- the shipped system -------------------------------------------------------------------------


@pytest.mark.parametrize("users", [1, 2])
async def test_shipped_drops_tool_events_on_every_run(users: int) -> None:
    scenario, _ = sut.build("shipped", {"users": users})
    with pytest.raises(AssertionError) as raised:
        await scenario()
    message = str(raised.value)
    for user in range(1, users + 1):
        assert (
            f"run u{user}-r0 (user u{user}): tool_executing, tool_completed emitted but never "
            "delivered (dropped: tool dispatcher has no websocket bridge)"
        ) in message
    assert "agent_started" not in message  # the lifecycle events do arrive


async def test_shipped_without_tools_passes_when_wired_first() -> None:
    scenario, _ = sut.build("shipped", {"tools_per_agent": 0})
    await scenario()


# -- bridge -------------------------------------------------------------------------------------


async def test_bridge_factory_state_follows_the_manager() -> None:
    manager = WebSocketManager(["u1"])
    with_manager = await create_agent_websocket_bridge(CONTEXT, manager)
    without = await create_agent_websocket_bridge(CONTEXT)
    assert with_manager.state is BridgeState.ACTIVE
    assert without.state is BridgeState.DEGRADED
    without.attach_manager(manager)
    assert without.state is BridgeState.ACTIVE


async def test_bridge_factory_interrupted_is_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[bridge_module.AgentWebSocketBridge] = []

    class Recording(bridge_module.AgentWebSocketBridge):
        def __init__(self, context: UserContext, origin: str) -> None:
            super().__init__(context, origin)
            made.append(self)

    monkeypatch.setattr(bridge_module, "AgentWebSocketBridge", Recording)
    with trio.CancelScope() as scope:
        scope.cancel()
        await create_agent_websocket_bridge(CONTEXT)
    assert scope.cancelled_caught
    assert made[0].state is BridgeState.FAILED


async def test_bridge_drops_events_without_manager_or_for_unknown_runs() -> None:
    client = Client("u1")
    manager = WebSocketManager(["u1"])
    manager.connect("u1", client.connect())
    no_manager = await create_agent_websocket_bridge(CONTEXT, register_run=True)
    assert await no_manager.notify_agent_started(CONTEXT) is False
    bridge = await create_agent_websocket_bridge(CONTEXT, manager)
    assert await bridge.notify_agent_started(CONTEXT) is False  # run never registered
    await bridge.register_run(CONTEXT)
    assert await bridge.notify_agent_started(CONTEXT) is True
    assert await bridge.notify_agent_thinking(CONTEXT, 1) is True
    assert await bridge.notify_tool_executing(CONTEXT, 2, "search") is True
    assert await bridge.notify_tool_completed(CONTEXT, 3, "search") is True
    assert await bridge.notify_agent_completed(CONTEXT, 4) is True
    assert [e.type for e in client.received()] == list(CRITICAL_EVENTS)


# -- manager ------------------------------------------------------------------------------------


async def test_recovery_queue_keeps_the_newest_fifty_and_replays_them_in_order() -> None:
    client = Client("u1")
    manager = WebSocketManager(["u1"])
    for seq in range(RECOVERY_QUEUE_CAP + 10):
        assert await manager.send_to_user("u1", event("agent_thinking", seq)) is False
    await manager.add_connection("u1", client.connect())
    assert [e.seq for e in client.received()] == list(range(10, RECOVERY_QUEUE_CAP + 10))


@pytest.mark.parametrize("under_lock", [False, True])
async def test_reconnect_replays_what_was_sent_while_offline(under_lock: bool) -> None:
    client = Client("u1")
    manager = WebSocketManager(["u1"], replay_under_lock=under_lock)
    manager.connect("u1", client.connect())
    await manager.send_to_user("u1", event("agent_started", 0))
    await manager.remove_connection("u1")
    assert await manager.send_to_user("u1", event("agent_thinking", 1)) is False
    await manager.add_connection("u1", client.connect())
    await manager.send_to_user("u1", event("agent_completed", 2))
    assert [(c.number, [e.seq for e in c.received]) for c in client.connections] == [
        (1, [0]),
        (2, [1, 2]),
    ]


def test_manager_refuses_unknown_users() -> None:
    with pytest.raises(ValueError, match="'u9' is not known"):
        WebSocketManager(["u1"]).connect("u9", Client("u9").connect())


# -- shapes and properties ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
        ["agent_started", "agent_thinking", "agent_completed"],
        ["agent_started", "tool_executing", "tool_completed", "agent_completed"],
        ["agent_started", "agent_thinking", "agent_thinking", "agent_completed"],
        ["agent_started", "agent_completed"],
        [
            "agent_started",
            "tool_executing",
            "tool_executing",
            "tool_completed",
            "tool_completed",
            "agent_failed",
        ],
    ],
)
def test_valid_shapes_have_no_violations(shape: list[str]) -> None:
    assert shape_violations(shape) == []


@pytest.mark.parametrize(
    ("shape", "problem"),
    [
        ([], "no event delivered"),
        (["agent_thinking", "agent_completed"], "first event is agent_thinking"),
        (["agent_started", "agent_thinking"], "last event is agent_thinking"),
        (["agent_started", "tool_completed", "agent_completed"], "has no open tool_executing"),
        (["agent_started", "tool_executing", "agent_completed"], "1 tool_executing never followed"),
        (["agent_started", "agent_completed", "agent_thinking"], "is followed by more events"),
        (["agent_started", "agent_started", "agent_completed"], "agent_started repeated"),
    ],
)
def test_invalid_shapes_are_named(shape: list[str], problem: str) -> None:
    assert any(problem in line for line in shape_violations(shape))


def test_leak_names_both_users() -> None:
    leaked = event("tool_executing", 2, UserContext("u2", "u2-t0", "u2-r0")).stamped(CONTEXT)
    (line,) = leak_violations({"u1": [leaked]})
    assert "tool_executing of run u2-r0 (user u2) delivered to user u1" in line


def test_lost_events_are_named_with_their_drop_reason() -> None:
    log = RunLog(CONTEXT)
    for seq, type in enumerate(["agent_started", "agent_thinking", "agent_completed"]):
        log.events.append(event(type, seq))
    log.drops[1] = "bridge has no manager (degraded)"
    received = {"u1": [event("agent_started", 0), event("agent_completed", 2)]}
    (line,) = delivery_violations([log], received, properties=["delivery"])
    assert line == (
        "run u1-r0 (user u1): agent_thinking emitted but never delivered "
        "(dropped: bridge has no manager (degraded))"
    )


def test_duplicates_and_reordering_are_violations() -> None:
    log = RunLog(CONTEXT)
    log.events.extend([event("agent_started", 0), event("agent_completed", 1)])
    received = {
        "u1": [event("agent_completed", 1), event("agent_started", 0), event("agent_started", 0)]
    }
    problems = delivery_violations([log], received, properties=["delivery"])
    assert any("agent_started delivered more than once" in p for p in problems)
    assert any("agent_completed #1 delivered before agent_started #0" in p for p in problems)


# -- workloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "workload", "key", "message"),
    [
        ("legacy2", {}, "variant", "unknown variant 'legacy2'; valid variants: legacy, shipped"),
        (
            "legacy",
            {"userz": 1},
            "workload.userz",
            "unknown workload key 'userz'; valid keys: users",
        ),
        ("legacy", {"users": "2"}, "workload.users", "must be an integer >= 1, got str '2'"),
        ("legacy", {"users": 0}, "workload.users", "must be >= 1, got 0"),
        ("legacy", {"reconnects": -1}, "workload.reconnects", "must be >= 0, got -1"),
        ("legacy", {"tools_per_agent": True}, "workload.tools_per_agent", "must be an integer"),
        ("legacy", {"concurrent_wiring": 1}, "workload.concurrent_wiring", "must be true or false"),
    ],
)
def test_bad_workloads_raise_value_errors_naming_the_key(
    variant: str, workload: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        sut.build(variant, workload)
    assert isinstance(raised.value, sut.BuildError)
    assert raised.value.key == key


def test_unknown_property_is_refused() -> None:
    with pytest.raises(sut.BuildError, match="unknown property 'speed'"):
        sut.build("remediated", {}, ["speed"])


def test_required_order_covers_exactly_the_emitted_labels() -> None:
    full = sut.required_order(sut.Workload(tools_per_agent=2, thinking_steps=2))
    assert set(full.labels) == {*CRITICAL_EVENTS, "bridge_wired"}
    assert Nested("tool_executing", "tool_completed", "run") in full.rules
    bare = sut.required_order(sut.Workload(tools_per_agent=0, thinking_steps=0))
    assert set(bare.labels) == {"agent_started", "agent_completed", "bridge_wired"}
    assert Edge("agent_started", "agent_completed", "run") in bare.rules


def test_order_is_empty_unless_happens_before_is_asserted() -> None:
    _, order = sut.build("remediated", {}, ["delivery"])
    assert order.rules == ()


def test_systems_registry_describes_the_agent_registry() -> None:
    system = sut.SYSTEMS["agent_registry"]
    assert system.variants == ("legacy", "shipped", "remediated")
    assert "concurrent_creation" in system.workload_keys
    assert system.build is sut.build
