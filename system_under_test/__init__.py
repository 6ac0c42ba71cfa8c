"""The system under test: a trio model of the agent registry and its websocket bridge.

The seed report (``seed/websocket-race-report.md``) describes a backend whose ``AgentRegistry``
reached clients through two interfaces, a legacy ``WebSocketManager`` and an
``AgentWebSocketBridge``, and whose races in wiring and emission lost or misrouted the five events
every agent run must deliver. This package models that system in plain trio, one small module per
component, in three variants selected by name (``legacy``, ``shipped``, ``remediated``; see
:mod:`.registry`), and builds runnable workloads of it (:mod:`.workloads`).

Shared mutable state lives in ``@sim.tracked`` classes, so racesim sees every conflicting access;
the remediated variant orders all of it through trio locks and events and is expected clean. Each
``await`` that checkpoints is a schedule point, so the model has few: one per lock, one per factory
call and one for agent construction and reconnect replay — only where a race needs a window.

Notes (``sim.note``) the model records, by label:

==========================  ====================================  ==============================
label                       where                                 attrs
==========================  ====================================  ==============================
``emit:<type>``             an agent or dispatcher produces it    run, user, seq
``<type>`` (delivered)      a client connection receives it       run, user (the run's owner),
                                                                  to (receiver), conn, seq
``drop:<type>``             the system drops it                   run, user, reason
``queue:<type>``            the manager queues it (user offline)  run, user
``run_registered``          a bridge learns run -> thread/user    run, user
``bridge_wired``            a session gets its bridge             user, origin
``manager_set``             the registry gets its manager         -
``propagation_failed``      legacy propagation stops              error
``connection_lost`` /       a user's connection drops / returns   user, conn
``connection_restored``
==========================  ====================================  ==============================

The last hop from the manager to a client is selected by name (:mod:`.transport`): ``model``
delivers in the send call; ``memory`` and ``lockstep`` send real websocket frames that a reader
task per connection decodes (:mod:`.frames`); ``loopback`` runs trio-websocket over real TCP
sockets (:mod:`.loopback`). A ``drop:<type>`` note then also says when a frame was lost unread.

``<type>`` is one of ``agent_started``, ``agent_thinking``, ``tool_executing``,
``tool_completed``, ``agent_completed``; required orders are stated over the delivered labels.
"""

from __future__ import annotations

from .properties import PROPERTIES as PROPERTIES
from .transport import TRANSPORTS as TRANSPORTS
from .workloads import SYSTEMS as SYSTEMS
from .workloads import VARIANTS as VARIANTS
from .workloads import BuildError as BuildError
from .workloads import System as System
from .workloads import Workload as Workload
from .workloads import build as build
from .workloads import required_order as required_order

__all__ = [
    "PROPERTIES",
    "SYSTEMS",
    "TRANSPORTS",
    "VARIANTS",
    "BuildError",
    "System",
    "Workload",
    "build",
    "required_order",
]
