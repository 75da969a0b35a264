"""The ingest side of the stream: a batch is acknowledged only after its `XADD` returned.

`StreamSink.append(payload)` has the interface of `Spool.append`: it returns once the
rows are in the Redis Stream (durable as Redis is configured: `appendonly yes` with
`appendfsync always` for the same promise as the spool's `fsync`; see README), and raises
`StreamFull` or `StreamUnavailable` (both `SpoolFull`, so the endpoint answers 503 with
`Retry-After`) otherwise. Appends of concurrent requests share one pipeline
(`PipelinedCalls`).

The backlog is bounded by policy, never by trimming: the stream length (entries not yet
stored and acknowledged; writers trim what they acknowledged) is read with `XLEN` at most
every 50 ms, piggybacked on the same pipelines, and a full backlog refuses new batches.
`XADD … MAXLEN` is never used: it would silently drop acknowledged batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from app.buffer.spool import SpoolFull
from app.scale.calls import PipelinedCalls

__all__ = ["PAYLOAD_FIELD", "StreamFull", "StreamSink", "StreamUnavailable"]

PAYLOAD_FIELD = b"r"
"""The entry field holding the JSONEachRow rows of one accepted request."""

LENGTH_CHECK_SECONDS = 0.05


class StreamFull(SpoolFull):
    """The stream holds `stream_max_entries` entries not yet stored."""

    reason = "spool_full"


class StreamUnavailable(SpoolFull):
    """Redis did not take the batch (down, timed out, or refused)."""

    reason = "store_unavailable"


class StreamSink:
    def __init__(
        self,
        calls: PipelinedCalls,
        stream_key: str,
        *,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._calls = calls
        self._key = stream_key
        self.max_entries = max_entries
        self._clock = clock
        self.length = 0  # last known XLEN (plus what this process added since)
        self._queued = 0
        self._checked_at = float("-inf")
        self._checking = False

    async def append(self, payload: bytes) -> None:
        """Return once `payload` is an entry of the stream."""
        self._refresh_length()
        if self.length + self._queued >= self.max_entries:
            raise StreamFull(
                f"the stream backlog is at its limit of {self.max_entries} batches; retry later"
            )
        self._queued += 1
        try:
            await self._calls.call("XADD", self._key, "*", PAYLOAD_FIELD, payload)
        except RedisError as exc:
            raise StreamUnavailable(f"Redis did not take the batch: {exc}") from exc
        finally:
            self._queued -= 1
        self.length += 1

    def _refresh_length(self) -> None:
        now = self._clock()
        if self._checking or now - self._checked_at < LENGTH_CHECK_SECONDS:
            return
        self._checking = True
        self._checked_at = now
        self._calls.submit("XLEN", self._key).add_done_callback(self._length_known)

    def _length_known(self, future: Any) -> None:
        self._checking = False
        if not future.cancelled() and future.exception() is None:
            self.length = int(future.result())

    # The spool's lifecycle methods, so the runtime can treat both buffers alike.
    def close(self) -> None:
        """Nothing to close: the Redis clients belong to `ScaleServices`."""

    def describe(self) -> str:
        return f'{{"stream_length": {self.length}, "max_entries": {self.max_entries}}}'
