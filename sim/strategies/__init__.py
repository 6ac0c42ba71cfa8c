"""Scheduling strategies, one per module, behind the small protocol in ``_protocol``.

``resolve`` turns a name (as given to ``sim.explore`` or ``racesim explore --strategy``) into a fresh
strategy object; strategy objects are accepted as they are.

===========  ==============================================================  ==========
name         what it does                                                    exhaustive
===========  ==============================================================  ==========
``dpor``     optimal DPOR: one run per Mazurkiewicz trace (the default)      yes
``dfs``      every interleaving, optionally preemption-bounded (CHESS)       yes
``pct``      random priorities + ``d - 1`` change points, with a bound       no
``pos``      partial-order sampling: priorities re-drawn on racing steps     no
``random``   uniform choice at every decision                                no
===========  ==============================================================  ==========
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._protocol import BaseStrategy, Choice, Strategy, execution_seed
from .dfs import DfsStrategy
from .dpor import DporStrategy
from .pct import PctStrategy
from .pos import PosStrategy
from .random import RandomStrategy
from .replay import ReplayDivergence, ReplayStrategy

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "NAMES",
    "BaseStrategy",
    "Choice",
    "DfsStrategy",
    "DporStrategy",
    "PctStrategy",
    "PosStrategy",
    "RandomStrategy",
    "ReplayDivergence",
    "ReplayStrategy",
    "Strategy",
    "execution_seed",
    "resolve",
]

_FACTORIES: dict[str, Callable[[int, int | None], Any]] = {
    "dfs": lambda seed, bound: DfsStrategy(preemption_bound=bound),
    "dpor": lambda seed, bound: DporStrategy(preemption_bound=bound),
    "pct": lambda seed, bound: PctStrategy(seed),
    "pos": lambda seed, bound: PosStrategy(seed),
    "random": lambda seed, bound: RandomStrategy(seed),
}

NAMES: tuple[str, ...] = tuple(sorted(_FACTORIES))


def resolve(strategy: str | Strategy, *, seed: int = 0, preemption_bound: int | None = None) -> Any:
    """A strategy object for a name, or ``strategy`` itself when it already is one."""
    if not isinstance(strategy, str):
        if not isinstance(strategy, Strategy):
            raise TypeError(
                f"strategy must be a name ({', '.join(NAMES)}) or an object with new_execution(), "
                f"choose() and execution_finished(); got {type(strategy).__name__}"
            )
        return strategy
    factory = _FACTORIES.get(strategy)
    if factory is None:
        raise ValueError(
            f"unknown strategy {strategy!r}; valid strategies: {', '.join(NAMES)} "
            "(or pass a strategy object)"
        )
    return factory(seed, preemption_bound)
