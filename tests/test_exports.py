"""The public API is exactly what ARCHITECTURE.md promises (trio's test_exports.py pattern)."""

from __future__ import annotations

import types

import sim

CONTRACT = {
    "explore",
    "replay",
    "note",
    "tracked",
    "Order",
    "Failure",
    "HealthCheck",
    "HealthCheckWarning",
    "Result",
    "ExitReason",
    "ReplayDivergence",
    "TokenMismatch",
}


#: Everything public beyond the contract. Adding a name here is an API decision: review it.
EXTRAS = {
    "Choice",
    "Decision",
    "OrderError",
    "Run",
    "Schedule",
    "Settings",
    "Strategy",
    "TokenError",
    "explore_delivery",
    "schedules",
}


def test_exported_set_is_exactly_the_contract_plus_reviewed_extras() -> None:
    assert set(sim.__all__) == CONTRACT | EXTRAS
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_no_public_name_escapes_all() -> None:
    public = {
        name
        for name, value in vars(sim).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} <= set(sim.__all__)


def test_all_is_sorted_and_has_no_private_names() -> None:
    assert list(sim.__all__) == sorted(sim.__all__)
    assert not [name for name in sim.__all__ if name.startswith("_")]
