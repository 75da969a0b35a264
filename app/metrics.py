"""Prometheus metrics of one Beacon process, in a registry of its own.

Hot-path counters are plain integers (`IngestStats`, `BatcherStats`) read at scrape
time by `BeaconCollector`; only the batcher's per-flush histograms use
prometheus-client's own types, since they are observed twice a second, not per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.buffer.batcher import BatcherStats
from app.buffer.spool import Spool
from app.ingest.outcomes import IngestStats

__all__ = ["Metrics"]


class BeaconCollector(Collector):
    def __init__(
        self, ingest: IngestStats, batcher: BatcherStats, spool: Spool, sites: Callable[[], int]
    ) -> None:
        self._ingest = ingest
        self._batcher = batcher
        self._spool = spool
        self._sites = sites

    def collect(self) -> Iterator[Metric]:
        ingest = self._ingest
        yield CounterMetricFamily(
            "beacon_requests", "Ingest requests received", value=ingest.requests
        )
        yield CounterMetricFamily(
            "beacon_events_received", "Events in decoded batches", value=ingest.events_received
        )
        yield CounterMetricFamily(
            "beacon_events_accepted", "Events spooled for storage", value=ingest.events_accepted
        )
        dropped = CounterMetricFamily(
            "beacon_events_dropped", "Events not stored, by reason", labels=["reason"]
        )
        for reason, count in sorted(ingest.events_dropped.items()):
            dropped.add_metric([reason], count)
        yield dropped
        rejected = CounterMetricFamily(
            "beacon_requests_rejected", "Ingest requests refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(ingest.requests_rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        steps = CounterMetricFamily(
            "beacon_pipeline_step_seconds", "Time spent in each pipeline step", labels=["step"]
        )
        for step, seconds in ingest.step_seconds.items():
            steps.add_metric([step], seconds)
        yield steps
        yield CounterMetricFamily(
            "beacon_rows_inserted", "Rows inserted into ClickHouse", value=self._batcher.rows
        )
        yield CounterMetricFamily(
            "beacon_batches_inserted", "Inserts into ClickHouse", value=self._batcher.batches
        )
        yield CounterMetricFamily(
            "beacon_insert_errors", "Failed inserts (retried)", value=self._batcher.insert_errors
        )
        yield GaugeMetricFamily(
            "beacon_spool_backlog_bytes",
            "Spooled bytes not yet in ClickHouse",
            value=self._spool.backlog_bytes,
        )
        yield GaugeMetricFamily(
            "beacon_spool_segments", "Spool segment files", value=self._spool.segment_count
        )
        yield GaugeMetricFamily("beacon_sites", "Sites known", value=self._sites())


class Metrics:
    def __init__(
        self, ingest: IngestStats, batcher: BatcherStats, spool: Spool, sites: Callable[[], int]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BeaconCollector(ingest, batcher, spool, sites))
        self.flush_seconds = Histogram(
            "beacon_flush_seconds",
            "Latency of one insert into ClickHouse",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "beacon_batch_rows",
            "Rows per insert",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000),
            registry=self.registry,
        )

    def observe_flush(self, rows: int, seconds: float) -> None:
        self.flush_seconds.observe(seconds)
        self.batch_rows.observe(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)
