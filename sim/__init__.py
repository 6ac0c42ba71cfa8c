"""racesim: deterministic race-condition simulation for trio.

Run plain trio code under a controlled scheduler, explore its interleavings, check each run's
happens-before graph against the event order the system requires, and replay every failure from a
token::

    import sim

    result = sim.explore(scenario, strategy="dfs", requires=sim.Order.chain("a", "b"))
    for failure in result.failures:
        print(failure.describe())        # kind, message, shrunk trace, replay command
    run = sim.replay(scenario, result.failures[0].token)
"""

from __future__ import annotations

from ._explore import ExitReason as ExitReason
from ._explore import Failure as Failure
from ._explore import Result as Result
from ._explore import Run as Run
from ._explore import explore as explore
from ._explore import replay as replay
from ._health import HealthCheck as HealthCheck
from ._health import HealthCheckWarning as HealthCheckWarning
from ._hypothesis import schedules as schedules
from ._order import Order as Order
from ._order import OrderError as OrderError
from ._schedule import Decision as Decision
from ._schedule import Schedule as Schedule
from ._schedule import TokenError as TokenError
from ._schedule import TokenMismatch as TokenMismatch
from ._settings import Settings as Settings
from ._streams import explore_delivery as explore_delivery
from ._tracked import note as note
from ._tracked import tracked as tracked
from .strategies import Choice as Choice
from .strategies import ReplayDivergence as ReplayDivergence
from .strategies import Strategy as Strategy

__all__ = [
    "Choice",
    "Decision",
    "ExitReason",
    "Failure",
    "HealthCheck",
    "HealthCheckWarning",
    "Order",
    "OrderError",
    "ReplayDivergence",
    "Result",
    "Run",
    "Schedule",
    "Settings",
    "Strategy",
    "TokenError",
    "TokenMismatch",
    "explore",
    "explore_delivery",
    "note",
    "replay",
    "schedules",
    "tracked",
]
