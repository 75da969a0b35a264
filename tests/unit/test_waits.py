"""A task waiting on an event with a time limit ends when it is cancelled, also when the
event is set in the same turn of the loop (Python 3.11's `asyncio.wait_for` returned the
result then and lost the cancellation: a stopped loop ran on)."""

from __future__ import annotations

import asyncio

from app.waits import wait_set


def test_a_cancellation_that_meets_a_wake_up_still_ends_the_waiting_loop() -> None:
    async def run() -> bool:
        wake = asyncio.Event()

        async def loop_forever() -> None:
            while True:
                await wait_set(wake, 30.0)
                wake.clear()

        task = asyncio.create_task(loop_forever())
        await asyncio.sleep(0)  # it waits now
        wake.set()
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        return task.cancelled()

    assert asyncio.run(run())
