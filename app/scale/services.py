"""`ScaleServices`: the Redis side of one process in scale mode, opened and closed together.

Both kinds of scale-mode process hold one: the stateless ingest process
(`ingest_app.IngestRuntime`) and the writer (`app.runtime.Runtime` when
`BEACON_REDIS_URL` is set, run by `beacon worker`). It owns the Redis clients (an async
one for the event loop, sync ones for threads), the coalesced calls, the stream sink, the
admission gate, the shared salts and the live feed. Nothing connects before first use.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis.asyncio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from app.buffer.batcher import BatcherStats, FlushObserver, InsertFn
from app.config import Settings
from app.ingest.visitor import SessionBridge
from app.scale.calls import PipelinedCalls
from app.scale.connect import async_client, sync_client
from app.scale.gate import RateLimits, ScaleGate
from app.scale.keys import Keys
from app.scale.salts import RedisSaltBook
from app.scale.sink import StreamSink
from app.scale.writer import StreamWorker, WorkerStats

__all__ = ["NoSpool", "ScaleCollector", "ScaleServices"]


class NoSpool:
    """Scale mode has no spool: its gauges in `app.metrics` read zero, truthfully."""

    backlog_bytes = 0
    segment_count = 0


class ScaleServices:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.redis_prefix)
        self.redis = async_client(settings.redis_url)
        self.sync_redis = sync_client(settings.redis_url)
        self.calls = PipelinedCalls(self.redis)
        self.sink = StreamSink(
            self.calls, self.keys.stream, max_entries=settings.stream_max_entries
        )
        self.salts = RedisSaltBook(self.sync_redis, self.keys)
        self.limits = RateLimits(
            ip_per_second=settings.rate_limit_ip_per_second,
            ip_burst=settings.rate_limit_ip_burst,
            site_events_per_second=settings.rate_limit_site_events_per_second,
            site_burst=settings.rate_limit_site_burst,
        )
        self.writer: StreamWorker | None = None
        self._writer_redis: redis.Redis | None = None

    def gate(self, bridge: SessionBridge) -> ScaleGate:
        return ScaleGate(self.calls, self.keys, bridge, self.limits, self.salts)

    def start_writer(
        self, insert: InsertFn, stats: BatcherStats, on_flush: FlushObserver | None
    ) -> StreamWorker:
        """The consumer-group writer (not started); the caller starts and stops it."""
        # Its own client: it blocks in XREADGROUP for up to a second at a time.
        self._writer_redis = sync_client(self.settings.redis_url, socket_timeout=10.0)
        self.writer = StreamWorker(
            self._writer_redis,
            self.keys,
            insert,
            batch_rows=self.settings.batch_rows,
            batch_ms=self.settings.batch_ms,
            claim_idle_ms=self.settings.stream_claim_idle_ms,
            stats=stats,
            on_flush=on_flush,
        )
        return self.writer

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def stream_length(self) -> int | None:
        try:
            return int(await self.redis.xlen(self.keys.stream))
        except (RedisError, OSError):
            return None

    async def aclose(self) -> None:
        await self.calls.wait_idle()
        await self.redis.aclose()
        self.sync_redis.close()
        if self._writer_redis is not None:
            self._writer_redis.close()


class ScaleCollector(Collector):
    """Prometheus metrics of the stream, the coalesced calls and the writer."""

    def __init__(self, services: ScaleServices) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services
        calls = services.calls.stats
        yield GaugeMetricFamily(
            "beacon_stream_length",
            "Stream entries not yet trimmed (as last seen by this process)",
            value=services.sink.length,
        )
        yield CounterMetricFamily(
            "beacon_redis_pipelines", "Pipelines sent to Redis", value=calls.pipelines
        )
        yield CounterMetricFamily(
            "beacon_redis_commands", "Commands sent in pipelines", value=calls.commands
        )
        yield CounterMetricFamily(
            "beacon_redis_errors", "Failed Redis pipelines and commands", value=calls.errors
        )
        writer = services.writer
        stats = writer.worker_stats if writer is not None else WorkerStats()
        yield CounterMetricFamily(
            "beacon_stream_reclaimed_entries",
            "Entries taken over from dead consumers",
            value=stats.reclaimed_entries,
        )
        yield GaugeMetricFamily(
            "beacon_stream_pending", "Entries read and not yet acknowledged", value=stats.pending
        )
        yield GaugeMetricFamily("beacon_scale_up", "Scale mode is on", value=1)
