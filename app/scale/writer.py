"""The writer: moves stream entries into ClickHouse in large idempotent inserts.

A `StreamWorker` thread reads the stream through the consumer group `writers`
(`XREADGROUP`), gathers entries until a batch holds `batch_rows` rows or its first entry
waited `batch_ms`, inserts them as one JSONEachRow insert, and only then acknowledges them
(`XACK`). Entries a worker read but never acknowledged stay pending; when it dies, another
worker (or its own successor) takes them over with `XAUTOCLAIM` once they have been idle
for `stream_claim_idle_ms`.

Stored exactly once. Every insert carries a deduplication token, and a reclaimed batch
must carry the *same* token with the *same* rows in the same order as the insert it
repeats — otherwise ClickHouse stores it twice. Batch boundaries are not deterministic
(concurrent consumers interleave, `XAUTOCLAIM` pages by count), so before inserting, the
worker writes the batch's manifest — its token and its exact entry ids — into a hash
beside the stream; the acknowledgement and the manifest's deletion are one MULTI. A
worker that reclaims entries looks them up in the manifests and re-forms exactly those
batches (claiming any of a batch's entries that `XAUTOCLAIM` did not return yet), then
inserts each under its recorded token; reclaimed entries with no manifest (read, not yet
inserted) form a new batch. While an insert is being retried (the store is away), the
worker keeps its entries from looking idle (`XCLAIM … JUSTID` to itself), so they are
not taken over from a living worker.

Trimming: after acknowledging, entries older than both the oldest pending entry and the
group's last delivered id are removed (`XTRIM MINID`), so `XLEN` is the backlog that
ingest bounds. Nothing unacknowledged is ever trimmed. Limits: one consumer group; an
entry whose rows ClickHouse rejects for ever is retried for ever (it blocks its batch,
visibly: `beacon_insert_errors` and `/readyz` say so).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import redis
from redis.exceptions import RedisError, ResponseError

from app.buffer.batcher import BatcherStats, FlushObserver, InsertFn, insert_until_stored
from app.scale.keys import GROUP, Keys
from app.scale.sink import PAYLOAD_FIELD

__all__ = ["Entry", "Manifest", "StreamBatch", "StreamWorker", "WorkerStats", "batch_token"]

log = logging.getLogger("beacon.worker")

TRIM_SECONDS = 1.0
IDLE_READ_MS = 1000
MAX_CLAIM = 10_000


class Entry(msgspec.Struct, frozen=True):
    id: str
    payload: bytes


class Manifest(msgspec.Struct):
    consumer: str
    ids: list[str]


class StreamBatch(msgspec.Struct):
    token: str
    entries: list[Entry]
    reclaimed: bool = False


class WorkerStats:
    def __init__(self) -> None:
        self.reclaimed_entries = 0
        self.reclaimed_batches = 0
        self.redis_errors = 0
        self.pending = 0


def batch_token(ids: list[str]) -> str:
    """The deduplication token of a batch: its first and last entry id and its size.

    An entry is in at most one manifest at a time, so no two batches share a first id.
    """
    return f"stream-{ids[0]}-{ids[-1]}-{len(ids)}"


def next_id(entry_id: str) -> str:
    millis, _, seq = entry_id.partition("-")
    return f"{millis}-{int(seq or 0) + 1}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(items: list[Any]) -> list[Entry]:
    """Entries from an XREADGROUP/XCLAIM reply; deleted entries (no fields) are skipped."""
    entries = []
    for item in items:
        if not item:
            continue
        entry_id, fields = item
        payload = (fields or {}).get(PAYLOAD_FIELD, b"")
        entries.append(Entry(_text(entry_id), payload))
    return entries


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class StreamWorker:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        insert: InsertFn,
        *,
        batch_rows: int,
        batch_ms: int,
        claim_idle_ms: int,
        stats: BatcherStats | None = None,
        on_flush: FlushObserver | None = None,
        consumer: str | None = None,
        read_count: int = 1000,
    ) -> None:
        if claim_idle_ms < 4 * batch_ms:
            raise ValueError("stream_claim_idle_ms must be at least 4 times batch_ms")
        self._client = client
        self._keys = keys
        self._insert = insert
        self._batch_rows = batch_rows
        self._batch_seconds = batch_ms / 1000
        self._claim_idle_ms = claim_idle_ms
        self._on_flush = on_flush
        self._read_count = read_count
        self.consumer = consumer or default_consumer_name()
        self.stats = stats if stats is not None else BatcherStats()
        self.worker_stats = WorkerStats()
        self.healthy = True
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="beacon-writer", daemon=True)
        self._last_trim = 0.0
        self._last_reclaim = float("-inf")

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the batch in hand (insert and acknowledge it), then stop."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout + 1)

    def _give_up(self) -> bool:
        return self._stopping.is_set() and time.monotonic() > self._deadline

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.ensure_group()
                self._loop()
                return
            except RedisError as exc:
                self._redis_failed("the writer lost Redis", exc)

    def _loop(self) -> None:
        while True:
            if time.monotonic() - self._last_reclaim >= self._claim_idle_ms / 2000:
                self._last_reclaim = time.monotonic()
                for batch in self.reclaim():
                    if not self.flush(batch):
                        return
            if self._stopping.is_set():
                return
            entries = self.collect()
            if not entries:
                self._trim()  # idle: let XLEN (the backlog ingest bounds) catch up
            elif not self.flush(self.new_batch(entries)):
                return
            if entries and self._stopping.is_set():
                return

    def _redis_failed(self, message: str, exc: Exception) -> None:
        self.worker_stats.redis_errors += 1
        self.healthy = False
        log.warning(message, extra={"error": str(exc)[:300]})
        self._stopping.wait(0.5)

    # -- reading --------------------------------------------------------------------

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self._keys.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def collect(self) -> list[Entry]:
        """New entries until the batch is big enough or old enough (or stopping)."""
        entries: list[Entry] = []
        rows = 0
        began: float | None = None
        while True:
            if began is None:
                block_ms = IDLE_READ_MS
            else:
                block_ms = int((self._batch_seconds - (time.monotonic() - began)) * 1000)
                if block_ms <= 0:
                    return entries
            try:
                reply = self._client.xreadgroup(
                    GROUP,
                    self.consumer,
                    {self._keys.stream: ">"},
                    count=self._read_count,
                    block=max(1, block_ms),
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_group()  # Redis lost the group (restarted without persistence)
                continue
            for _, items in reply or []:
                fresh = _entries(items)
                entries += fresh
                rows += sum(entry.payload.count(b"\n") for entry in fresh)
            if entries and began is None:
                began = time.monotonic()
            if not entries:
                return entries  # idle: let the loop reclaim and check for stop
            if rows >= self._batch_rows or self._stopping.is_set():
                return entries

    def new_batch(self, entries: list[Entry]) -> StreamBatch:
        return StreamBatch(batch_token([entry.id for entry in entries]), entries)

    # -- reclaiming -----------------------------------------------------------------

    def reclaim(self) -> list[StreamBatch]:
        """Batches re-formed from entries left pending by dead consumers."""
        claimed: list[Entry] = []
        cursor = "0-0"
        while len(claimed) < MAX_CLAIM:
            reply = self._client.xautoclaim(
                self._keys.stream,
                GROUP,
                self.consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=cursor,
                count=1000,
            )
            cursor = _text(reply[0])
            claimed += _entries(reply[1])
            if cursor == "0-0":
                break
        if not claimed:
            self._forget_dead_consumers()
            return []
        manifests = {
            _text(token): msgspec.json.decode(raw, type=Manifest)
            for token, raw in self._client.hgetall(self._keys.inflight).items()
        }
        owner = {entry_id: token for token, m in manifests.items() for entry_id in m.ids}
        by_token: dict[str, dict[str, Entry]] = {}
        orphans: list[Entry] = []
        for entry in claimed:
            token = owner.get(entry.id)
            if token is None:
                orphans.append(entry)
            else:
                by_token.setdefault(token, {})[entry.id] = entry
        batches = [self._reform(token, manifests[token], got) for token, got in by_token.items()]
        if orphans:
            orphans.sort(key=lambda e: tuple(int(p) for p in e.id.split("-")))
            batches.append(StreamBatch(batch_token([e.id for e in orphans]), orphans, True))
        # Every entry taken over, also those of a manifest that XAUTOCLAIM left out (not yet
        # idle long enough: a batch is read over up to BEACON_BATCH_MS) and `_reform` claimed.
        self.worker_stats.reclaimed_entries += sum(len(batch.entries) for batch in batches)
        self.worker_stats.reclaimed_batches += len(batches)
        log.info(
            "reclaimed entries of a dead consumer",
            extra={"entries": len(claimed), "batches": len(batches), "consumer": self.consumer},
        )
        return batches

    def _reform(self, token: str, manifest: Manifest, got: dict[str, Entry]) -> StreamBatch:
        """The manifest's batch, exactly: claim the entries XAUTOCLAIM did not return."""
        missing = [entry_id for entry_id in manifest.ids if entry_id not in got]
        if missing:
            more = self._client.xclaim(self._keys.stream, GROUP, self.consumer, 0, missing)
            for entry in _entries(more):
                got[entry.id] = entry
        entries = [got[entry_id] for entry_id in manifest.ids if entry_id in got]
        if len(entries) != len(manifest.ids):
            log.warning(
                "a reclaimed batch lost entries; inserting the rest under its token",
                extra={"batch": token, "missing": len(manifest.ids) - len(entries)},
            )
        self._client.hset(
            self._keys.inflight, token, msgspec.json.encode(Manifest(self.consumer, manifest.ids))
        )
        return StreamBatch(token, entries, True)

    def _forget_dead_consumers(self) -> None:
        """Remove consumers with nothing pending that were idle for long (hygiene only)."""
        horizon = max(10 * self._claim_idle_ms, 600_000)
        for consumer in self._client.xinfo_consumers(self._keys.stream, GROUP):
            name = _text(consumer["name"])
            if name != self.consumer and consumer["pending"] == 0 and consumer["idle"] > horizon:
                self._client.xgroup_delconsumer(self._keys.stream, GROUP, name)

    # -- writing --------------------------------------------------------------------

    def flush(self, batch: StreamBatch) -> bool:
        """Manifest, insert (retried), acknowledge; False if stopped before it was done."""
        ids = [entry.id for entry in batch.entries]
        if not ids:
            return True
        if not self._with_redis(
            lambda: self._client.hset(
                self._keys.inflight,
                batch.token,
                msgspec.json.encode(Manifest(self.consumer, ids)),
            )
        ):
            return False
        body = b"".join(entry.payload for entry in batch.entries)
        if body and not self._insert_until_done(body, batch.token, ids):
            return False
        if not self._with_redis(lambda: self._acknowledge(batch.token, ids)):
            return False
        self.healthy = True
        self._trim()
        return True

    def _insert_until_done(self, body: bytes, token: str, ids: list[str]) -> bool:
        last_touch = time.monotonic()

        def keep_claim_fresh() -> None:
            nonlocal last_touch
            if time.monotonic() - last_touch > self._claim_idle_ms / 3000:
                last_touch = time.monotonic()
                self._keep_claimed(ids)

        return insert_until_stored(
            self._insert,
            body,
            token,
            self.stats,
            should_stop=self._give_up,
            wait=self._stopping.wait,
            on_failure=self._mark_unhealthy,
            on_flush=self._on_flush,
            between_tries=keep_claim_fresh,
        )

    def _mark_unhealthy(self) -> None:
        self.healthy = False

    def _keep_claimed(self, ids: list[str]) -> None:
        """Reset the idle time of our pending entries: we are alive, do not take them."""
        try:
            self._client.xclaim(self._keys.stream, GROUP, self.consumer, 0, ids, justid=True)
        except RedisError as exc:
            self.worker_stats.redis_errors += 1
            log.warning("could not refresh our claim", extra={"error": str(exc)[:300]})

    def _acknowledge(self, token: str, ids: list[str]) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.xack(self._keys.stream, GROUP, *ids)
        pipe.hdel(self._keys.inflight, token)
        pipe.execute()

    def _with_redis(self, action: Callable[[], object]) -> bool:
        """Run `action` until Redis takes it; False if stopped first."""
        while True:
            try:
                action()
                return True
            except RedisError as exc:
                self._redis_failed("Redis call failed; retrying", exc)
                if self._give_up():
                    return False

    def _trim(self) -> None:
        if time.monotonic() - self._last_trim < TRIM_SECONDS:
            return
        self._last_trim = time.monotonic()
        try:
            self.trim()
        except RedisError as exc:
            self.worker_stats.redis_errors += 1
            log.warning("trimming the stream failed", extra={"error": str(exc)[:300]})

    def trim(self) -> str | None:
        """Remove acknowledged entries: those before the oldest pending and undelivered one."""
        groups = self._client.xinfo_groups(self._keys.stream)
        group = next((g for g in groups if _text(g["name"]) == GROUP), None)
        if group is None:
            return None
        pending = self._client.xpending(self._keys.stream, GROUP)
        self.worker_stats.pending = int(pending["pending"])
        delivered = _text(group["last-delivered-id"])
        minid = _text(pending["min"]) if pending["pending"] else next_id(delivered)
        self._client.xtrim(self._keys.stream, minid=minid, approximate=False)
        return minid
