"""racesim's pytest plugin (work in progress: issue 7).

This stub exists so that the ``pytest11`` entry point resolves and plain
``pytest`` starts; the marker and options arrive with the full plugin.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "racesim(strategy='dpor', max_schedules=..., seed=..., requires=..., "
        "preemption_bound=..., mode=..., races=...): explore interleavings of this async test",
    )
