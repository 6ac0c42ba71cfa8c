"""Edited copies of the system under test: the real fix of each bundled race, and a refactor.

``load_copy(directory, edits)`` copies ``system_under_test`` into ``directory`` under a fresh package
name, applies text edits (each must match exactly once, so an edit that no longer fits fails
loudly) and imports it; ``build(copy, scenario)`` builds the scenario file's workload from the copy,
with the file's identity, so a token printed for the original replays against the copy.

``FIXES`` maps each bundled race scenario to the fix a reader of SUT.md would make for it, as
small as the race allows; ``REFACTOR`` adds an ``await`` that has nothing to do with any race (an
agent yields once more after its last event) and two comment lines at the top of registry.py,
which moves every line below them.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import sim
    from sim._scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = ROOT / "system_under_test"

#: file -> [(old, new)]: each ``old`` occurs exactly once in the file.
Edits = dict[str, list[tuple[str, str]]]

_WAIT_FOR_MANAGER: Edits = {
    "registry.py": [
        (
            "        self.legacy_dispatcher: ToolDispatcher | None = None\n",
            "        self.legacy_dispatcher: ToolDispatcher | None = None\n"
            "        self.ready = trio.Event()\n",
        ),
        (
            '        self.manager = manager\n        sim.note("manager_set")\n'
            "        self.nursery.start_soon(self._wire_in_background",
            '        self.manager = manager\n        sim.note("manager_set")\n'
            "        self.ready.set()\n"
            "        self.nursery.start_soon(self._wire_in_background",
        ),
        (
            "        manager = self.manager  # what the request saw when it arrived\n",
            "        await self.ready.wait()  # the fix: no request before the manager\n"
            "        manager = self.manager\n",
        ),
    ]
}

_ONE_BRIDGE_PER_SESSION: Edits = {
    "registry.py": [
        (
            "        self.legacy_dispatcher: ToolDispatcher | None = None\n",
            "        self.legacy_dispatcher: ToolDispatcher | None = None\n"
            "        self.wiring = trio.Lock()\n",
        ),
        (
            "        seen = []\n        if session.manager is None:\n",
            "        seen = []\n        await self.wiring.acquire()\n        if session.manager is None:\n",
        ),
        (
            "        else:  # per-context isolation: a fresh bridge for this run replaces the session's\n"
            "            await session.set_websocket_manager(session.manager, context, origin=origin)\n",
            "        else:  # the fix: one bridge per session; the run registers on it\n"
            "            await session.bridge.register_run(context)\n"
            "        self.wiring.release()\n",
        ),
    ]
}

_BRIDGE_BEFORE_WIRE_RETURNS: Edits = {
    "registry.py": [
        (
            "    async def wire(self, manager: WebSocketManager) -> None:\n"
            "        self.set_websocket_manager(manager)\n",
            "    async def wire(self, manager: WebSocketManager) -> None:\n"
            "        bridge = await create_agent_websocket_bridge(\n"
            '            REGISTRY_CONTEXT, manager, origin="the registry"\n'
            "        )\n"
            "        self.set_websocket_bridge(bridge)  # the fix: the bridge exists first\n"
            "        self.set_websocket_manager(manager)\n",
        ),
        (
            "    async def _wire_in_background(self, manager: WebSocketManager) -> None:\n"
            "        bridge = await create_agent_websocket_bridge(\n"
            '            REGISTRY_CONTEXT, manager, origin="the registry"\n'
            "        )\n"
            "        self.set_websocket_bridge(bridge)\n",
            "    async def _wire_in_background(self, manager: WebSocketManager) -> None:\n",
        ),
    ]
}

_PROPAGATE_UNDER_LOCK: Edits = {
    "registry.py": [
        (
            "        try:\n            for session in self.sessions.values():\n"
            "                if session.manager is None:\n"
            '                    await session.set_websocket_manager(manager, origin="propagation")\n',
            "        try:\n            async with self.lock:  # the fix: no insertion while iterating\n"
            "                for session in list(self.sessions.values()):\n"
            "                    if session.manager is None:\n"
            "                        await session.set_websocket_manager(\n"
            '                            manager, origin="propagation"\n'
            "                        )\n",
        ),
        (
            "        session = await self.get_user_session(context.user)\n"
            '        origin = f"creation of {context.run}"\n',
            "        session = await self.get_user_session(context.user)\n"
            "        manager = self.manager  # the fix: look again once the session exists\n"
            '        origin = f"creation of {context.run}"\n',
        ),
    ]
}

_PER_USER_DISPATCHER: Edits = {
    "registry.py": [
        (
            "        dispatcher = await self._dispatcher_for(context)\n"
            "        return Agent(context, bridge, dispatcher",
            "        dispatcher = ToolDispatcher(context, bridge)  # the fix: one per user\n"
            "        return Agent(context, bridge, dispatcher",
        ),
    ]
}

_REPLAY_UNDER_LOCK: Edits = {
    "manager.py": [
        (
            "            if self.replay_under_lock:\n"
            "                await self._replay(slot, connection)\n"
            "                return\n"
            "        await trio.sleep(0)\n"
            "        await self._replay(slot, connection)\n",
            "            await self._replay(slot, connection)  # the fix: install, replay together\n",
        ),
    ]
}

_DISPATCHER_WITH_BRIDGE: Edits = {
    "registry.py": [
        (
            "            user_context=context, websocket_bridge=None, enable_admin_tools=False\n",
            "            user_context=context,\n"
            "            websocket_bridge=self.sessions[context.user].bridge,  # the fix\n"
            "            enable_admin_tools=False,\n",
        ),
    ]
}

#: The fix of each bundled race scenario.
FIXES: dict[str, Edits] = {
    "legacy_agent_before_propagation": _WAIT_FOR_MANAGER,
    "legacy_concurrent_creation": _ONE_BRIDGE_PER_SESSION,
    "legacy_manager_set_bridge_not_yet": _BRIDGE_BEFORE_WIRE_RETURNS,
    "legacy_propagation_vs_new_session": _PROPAGATE_UNDER_LOCK,
    "legacy_shared_dispatcher_leak": _PER_USER_DISPATCHER,
    "shipped_reconnect_replay_reorder": _REPLAY_UNDER_LOCK,
    "shipped_tool_events_dropped": _DISPATCHER_WITH_BRIDGE,
}

#: An unrelated refactor: one more ``await`` in every agent run, and every registry.py line moved.
REFACTOR: Edits = {
    "agent.py": [
        ("import sim\n", "import trio\n\nimport sim\n"),
        (
            "        await self._emit(AGENT_COMPLETED)\n",
            "        await self._emit(AGENT_COMPLETED)\n"
            "        await trio.sleep(0)  # refactor: let the transport flush\n",
        ),
    ],
    "registry.py": [
        (
            "from __future__ import annotations\n",
            "from __future__ import annotations\n\n# (a refactor moved these lines)\n",
        ),
    ],
}

_NUMBERS = itertools.count()


def load_copy(directory: Path, edits: Mapping[str, list[tuple[str, str]]]) -> Any:
    """A copy of ``system_under_test`` with ``edits``, imported under a package name of its own."""
    name = f"sut_copy_{next(_NUMBERS)}_{directory.name}".replace("-", "_")
    target = directory / name
    shutil.copytree(SYSTEM, target, ignore=shutil.ignore_patterns("__pycache__"))
    for file, changes in edits.items():
        path = target / file
        text = path.read_text()
        for old, new in changes:
            if text.count(old) != 1:
                raise AssertionError(f"edit of {file} does not fit: {old!r}")
            text = text.replace(old, new)
        path.write_text(text)
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))


def build(copy: Any, scenario: Scenario) -> tuple[Callable[[], Awaitable[None]], Any]:
    """``scenario``'s workload built from ``copy``, carrying the scenario file's identity."""
    args: list[Any] = [scenario.variant, scenario.workload_dict]
    if scenario.properties is not None:
        args.append(scenario.properties)
    fn, order = copy.build(*args)
    fn.__racesim_fingerprint__ = scenario.fingerprint
    fn.__racesim_name__ = scenario.name
    return fn, (order if order.rules else None)


@functools.cache
def expected_failure(name: str) -> tuple[Scenario, sim.Failure]:
    """The bundled scenario ``name`` and the failure its file expects, explored once per process
    (the drift and root-cause tests share it)."""
    from sim._scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    expected = scenario.expect_failure
    assert expected is not None
    failure = next(f for f in scenario.explore().failures if expected.matches(f))
    return scenario, failure
