"""Waits that a cancellation always ends.

`asyncio.wait_for` in Python 3.11 returns the awaited result instead of raising when the
task is cancelled in the same turn of the loop as that result arrives: the cancellation
is lost, and a `while True` loop stopped by `task.cancel()` goes on for ever (the alert
evaluator and notifier hung their stop that way, now and then, in the lease test).
`asyncio.timeout` keeps a cancellation from outside apart from its own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["wait_set"]


async def wait_set(event: asyncio.Event, seconds: float | None) -> None:
    """Until `event` is set or `seconds` passed (None: no limit)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
