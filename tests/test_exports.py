"""The public API is exactly what ARCHITECTURE.md promises (trio's test_exports.py pattern)."""

from __future__ import annotations

import sim

CONTRACT = {
    "explore",
    "replay",
    "note",
    "tracked",
    "Order",
    "Failure",
    "Result",
    "ExitReason",
    "ReplayDivergence",
    "TokenMismatch",
}


def test_contract_names_are_exported() -> None:
    assert set(sim.__all__) >= CONTRACT
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_all_is_sorted_and_has_no_private_names() -> None:
    assert list(sim.__all__) == sorted(sim.__all__)
    assert not [name for name in sim.__all__ if name.startswith("_")]
