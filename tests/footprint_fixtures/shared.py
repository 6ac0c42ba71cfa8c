"""A module with its own shared state, instrumented when a test names it."""

from __future__ import annotations

import trio

TOTAL = 0


async def bump() -> None:
    global TOTAL
    seen = TOTAL
    await trio.sleep(0)
    TOTAL = seen + 1
