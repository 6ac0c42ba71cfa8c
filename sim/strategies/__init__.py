"""Scheduling strategies, one per module, behind the small protocol in ``_protocol``.

``resolve`` turns a name (as given to ``sim.explore`` or ``racesim explore --strategy``) into a fresh
strategy object; strategy objects are accepted as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._protocol import BaseStrategy, Choice, Strategy, execution_seed
from .dfs import DfsStrategy
from .random import RandomStrategy
from .replay import ReplayDivergence, ReplayStrategy

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "NAMES",
    "BaseStrategy",
    "Choice",
    "DfsStrategy",
    "RandomStrategy",
    "ReplayDivergence",
    "ReplayStrategy",
    "Strategy",
    "execution_seed",
    "resolve",
]


def _factories() -> dict[str, Callable[[int, int | None], Any]]:
    factories: dict[str, Callable[[int, int | None], Any]] = {
        "random": lambda seed, bound: RandomStrategy(seed),
        "dfs": lambda seed, bound: DfsStrategy(preemption_bound=bound),
    }
    try:
        from .pct import PctStrategy

        factories["pct"] = lambda seed, bound: PctStrategy(seed)
    except ImportError:
        pass
    try:
        from .pos import PosStrategy

        factories["pos"] = lambda seed, bound: PosStrategy(seed)
    except ImportError:
        pass
    try:
        from .dpor import DporStrategy

        factories["dpor"] = lambda seed, bound: DporStrategy(preemption_bound=bound)
    except ImportError:
        pass
    return factories


NAMES: tuple[str, ...] = tuple(sorted(_factories()))


def resolve(strategy: str | Strategy, *, seed: int = 0, preemption_bound: int | None = None) -> Any:
    """A strategy object for a name, or ``strategy`` itself when it already is one."""
    if not isinstance(strategy, str):
        if not isinstance(strategy, Strategy):
            raise TypeError(
                f"strategy must be a name ({', '.join(NAMES)}) or an object with new_execution(), "
                f"choose() and execution_finished(); got {type(strategy).__name__}"
            )
        return strategy
    factories = _factories()
    factory = factories.get(strategy)
    if factory is None:
        raise ValueError(
            f"unknown strategy {strategy!r}; valid strategies: {', '.join(sorted(factories))}"
        )
    return factory(seed, preemption_bound)
