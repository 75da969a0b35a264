"""The batcher: moves spooled rows into ClickHouse in large, idempotent inserts.

It runs in its own thread (chdb and the HTTP client are blocking; chdb releases the
GIL while it works, so the event loop keeps serving). A batch is a contiguous range of
spool records, flushed when it holds `batch_rows` rows or its first record has waited
`batch_ms`. Before inserting, the range is written to the spool checkpoint; the insert
carries the token `spool-<start>-<end>`; after it succeeds the checkpoint moves past
the range. A crash between insert and checkpoint replays exactly the same range with
the same token, which ClickHouse deduplicates: stored once.

When the store fails, the same batch is retried with backoff, for as long as it takes;
the spool absorbs the backlog meanwhile. `stop()` flushes what is spooled (within a
deadline) and returns; what is left is replayed at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from app.buffer.spool import Record, Spool

__all__ = ["Batcher", "BatcherStats", "insert_until_stored"]

log = logging.getLogger("beacon.batcher")

InsertFn = Callable[[bytes, str], None]
"""insert(JSONEachRow body, deduplication token); raises when not stored."""


FlushObserver = Callable[[int, float], None]
"""on_flush(rows, seconds) after every stored batch (feeds the metrics histograms)."""


#: The batcher thread's nice value: below the event loop's, which answers requests.
BATCHER_NICE = 5


class BatcherStats:
    def __init__(self) -> None:
        self.batches = 0
        self.rows = 0
        self.insert_errors = 0
        self.last_flush_seconds = 0.0
        self.last_error = ""


def insert_until_stored(
    insert: InsertFn,
    body: bytes,
    token: str,
    stats: BatcherStats,
    *,
    should_stop: Callable[[], bool],
    wait: Callable[[float], object],
    on_failure: Callable[[], None],
    on_flush: FlushObserver | None = None,
    between_tries: Callable[[], None] | None = None,
) -> bool:
    """Insert one batch, retrying the same body and token with capped exponential backoff.

    Shared by the spool batcher and the scale-mode stream writer. Returns True once the
    batch is stored (stats and `on_flush` updated), False when `should_stop()` says to
    give up after a failure. `between_tries` runs after each wait (e.g. to keep a claim).
    """
    backoff = 0.2
    while True:
        began = time.perf_counter()
        try:
            insert(body, token)
        except Exception as exc:
            stats.insert_errors += 1
            stats.last_error = str(exc)[:500]
            on_failure()
            log.warning(
                "insert failed; retrying the same batch",
                extra={"error": str(exc)[:500], "batch": token, "retry_in": backoff},
            )
            if should_stop():
                return False
            wait(backoff)
            backoff = min(backoff * 2, 5.0)
            if between_tries is not None:
                between_tries()
            continue
        elapsed = time.perf_counter() - began
        rows = body.count(b"\n")
        stats.batches += 1
        stats.rows += rows
        stats.last_flush_seconds = elapsed
        if on_flush is not None:
            on_flush(rows, elapsed)
        return True


class Batcher:
    def __init__(
        self,
        spool: Spool,
        insert: InsertFn,
        *,
        batch_rows: int,
        batch_ms: int,
        max_batch_bytes: int = 64 * 1024 * 1024,
        stats: BatcherStats | None = None,
        on_flush: FlushObserver | None = None,
        gate: threading.RLock | None = None,
    ) -> None:
        self._on_flush = on_flush
        # Held from a batch's checkpoint to its commit: whoever holds it (a backup, an
        # erasure) sees the store hold exactly the spool before `checkpoint.stored`.
        self._gate = gate if gate is not None else threading.RLock()
        self._spool = spool
        self._insert = insert
        self._batch_rows = batch_rows
        self._batch_seconds = batch_ms / 1000
        self._max_batch_bytes = max_batch_bytes
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="beacon-batcher", daemon=True)
        self.stats = stats if stats is not None else BatcherStats()
        self.healthy = True

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Flush what is spooled, then stop; gives up after `timeout` seconds."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        self._thread.join(timeout + 1)

    @property
    def position(self) -> int:
        return self._spool.checkpoint.stored

    def _run(self) -> None:
        # Inserts wait in the spool anyway: let the event loop (acknowledgements) win
        # the CPU when both want it (Linux: a thread's own nice value).
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BATCHER_NICE)
        spool = self._spool
        inflight = spool.checkpoint.inflight_end
        if inflight is not None:
            log.info(
                "replaying the batch interrupted by the last shutdown",
                extra={"start": spool.checkpoint.stored, "end": inflight},
            )
            records = spool.read(spool.checkpoint.stored, max_bytes=0, end=inflight)
            if not self._flush(records):
                return
        while True:
            position = spool.checkpoint.stored
            if self._stopping.is_set():
                if spool.durable_end <= position or time.monotonic() > self._deadline:
                    return
            elif not spool.wait_for_data(position, timeout=0.2):
                continue
            records = self._collect(position)
            if records and not self._flush(records):
                return

    def _collect(self, position: int) -> list[Record]:
        """Records from `position` until the batch is big enough or old enough."""
        first_seen = time.monotonic()
        records: list[Record] = []
        rows = 0
        size = 0
        while True:
            fresh = self._spool.read(position, max_bytes=self._max_batch_bytes - size)
            for record in fresh:
                records.append(record)
                rows += record.payload.count(b"\n")
                size += len(record.payload)
                position = record.end
            full = rows >= self._batch_rows or size >= self._max_batch_bytes
            waited = time.monotonic() - first_seen
            if full or self._stopping.is_set() or waited >= self._batch_seconds:
                return records
            self._spool.wait_for_data(position, timeout=self._batch_seconds - waited)

    def _flush(self, records: list[Record]) -> bool:
        """Insert `records` as one batch until it succeeds; False if stopped first."""
        with self._gate:
            return self._flush_gated(records)

    def _flush_gated(self, records: list[Record]) -> bool:
        start, end = records[0].start, records[-1].end
        body = b"".join(record.payload for record in records)
        token = f"spool-{start}-{end}"
        self._spool.begin_batch(start, end)
        stored = insert_until_stored(
            self._insert,
            body,
            token,
            self.stats,
            should_stop=lambda: self._stopping.is_set() and time.monotonic() > self._deadline,
            wait=time.sleep,  # not the stop event: a stopping batcher still retries
            on_failure=self._mark_unhealthy,
            on_flush=self._on_flush,
        )
        if stored:
            self._spool.commit_batch(end)
            self.healthy = True
        return stored

    def _mark_unhealthy(self) -> None:
        self.healthy = False
