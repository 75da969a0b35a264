"""The running parts of one Beacon process, started and stopped together.

`Runtime.start(settings)` opens the store, applies migrations, loads sites, opens the
spool and starts the batcher; `stop()` flushes and closes them, in reverse order. The
Litestar lifespan (`app/server.py`) owns one Runtime; nothing connects at import time.

In scale mode (`BEACON_REDIS_URL`) the Runtime is the writer run by `beacon worker`: the
same store, sites and queries, but the buffer is the Redis Stream (`app/scale`): accepted
batches go to the stream, a `StreamWorker` inserts them, salts come from Redis, and the
site registry is published into Redis for the stateless ingest processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from typing import Any

import anyio.to_thread

from app.alerts.collector import AlertCollector
from app.alerts.live import LiveHub, LivePublisher
from app.alerts.metrics import IngestHealth, MetricReader
from app.alerts.service import AlertService
from app.alerts.store import AlertStore
from app.buffer.batcher import Batcher, BatcherStats
from app.buffer.spool import Spool
from app.config import Settings
from app.ingest.expand import PageCache
from app.ingest.geo import IpCountry
from app.ingest.outcomes import IngestStats
from app.ingest.pipeline import Lookups
from app.ingest.ratelimit import LocalRateLimiter, rate_limits
from app.ingest.routes import IngestEndpoint
from app.ingest.site import SiteRegistry
from app.ingest.visitor import SessionBridge, utc_day
from app.lifecycle.journal import Journal
from app.lifecycle.service import Lifecycle
from app.metrics import Metrics
from app.scale.registry import PUBLISH_SECONDS, PublishedRegistry
from app.scale.salts import RedisSaltBook
from app.scale.services import NoSpool, ScaleCollector, ScaleServices
from app.scale.sink import StreamSink
from app.scale.writer import StreamWorker
from app.store.client import Store, StoreError
from app.store.closer import settle_sessions
from app.store.closing import closable_until, close_days
from app.store.migrate import apply_migrations
from app.store.rows import EVENT_COLUMNS
from app.store.sites import SiteStore
from app.web.session import SessionCodec, load_secret
from app.web.shares import ShareRegistry, ShareStore

__all__ = ["Runtime", "SaltBook"]

log = logging.getLogger("beacon.runtime")

REFRESH_SECONDS = 10.0
#: On a ClickHouse server, rows stored less than this long ago are left for the export's
#: next page: several writers may be inserting at once (see `Runtime.stored_horizon`).
SERVER_STORE_MARGIN = 60.0
CLOSE_SESSIONS_SECONDS = 120.0


class SaltBook:
    """Salts by UTC day, fetched ahead of need so the hot path only reads a dict."""

    def __init__(self, sites: SiteStore) -> None:
        self._sites = sites
        self._salts: dict[int, bytes] = {}

    def prefetch(self, now_ms: int) -> None:
        today = utc_day(now_ms)
        for day in (today, today + 1):
            if day not in self._salts:
                self._salts[day] = self._sites.salt_for(day)
        self._salts = {d: s for d, s in self._salts.items() if d >= today - 1}

    def __call__(self, day: int) -> bytes:
        salt = self._salts.get(day)
        if salt is None:  # only if the hourly prefetch fell behind: fetch it now
            salt = self._salts[day] = self._sites.salt_for(day)
        return salt


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.open(settings)
        applied = apply_migrations(self.store, retention_days=settings.retention_days)
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        self.sites = SiteStore(self.store)
        self.scale = ScaleServices(settings) if settings.scale else None
        # The writer's lock: the batcher holds it from a batch's checkpoint to its commit
        # (and any insert holds it), so a backup or an erasure can hold inserts still.
        self.writes = threading.RLock()
        self.registry = PublishedRegistry() if self.scale else SiteRegistry()
        # The dashboard: shared links' keys, and the key that signs login sessions.
        self.share_keys = ShareStore(self.store)
        self.shares = ShareRegistry()
        self.session_codec = SessionCodec(load_secret(self.store))
        self.reload_sites()
        self.salts: SaltBook | RedisSaltBook = (
            self.scale.salts if self.scale else SaltBook(self.sites)
        )
        self.salts.prefetch(int(time.time() * 1000))
        self.stats = IngestStats()
        bridge = SessionBridge()
        bridge.restore(self._recent_sessions(), int(time.time() * 1000))
        self.lookups = Lookups(
            sites=self.registry,
            salt_of_day=self.salts,
            ip_country=IpCountry(),
            bridge=bridge,
            pages=PageCache(),
            max_event_age_ms=settings.max_event_age_hours * 3_600_000,
        )
        batcher_stats = BatcherStats()
        self.spool: Spool | StreamSink
        self.batcher: Batcher | StreamWorker
        if self.scale is None:
            self.spool = Spool(
                settings.spool_path, max_bytes=settings.spool_max_bytes, fsync=settings.spool_fsync
            )
            self.metrics = Metrics(
                self.stats, batcher_stats, self.spool, lambda: len(self.registry)
            )
            self.batcher = Batcher(
                self.spool,
                self._insert_rows,
                batch_rows=settings.batch_rows,
                batch_ms=settings.batch_ms,
                stats=batcher_stats,
                on_flush=self.metrics.observe_flush,
                gate=self.writes,
            )
        else:
            self.spool = self.scale.sink
            no_spool: Any = NoSpool()  # Metrics reads a spool's gauges; there is none here
            self.metrics = Metrics(self.stats, batcher_stats, no_spool, lambda: len(self.registry))
            self.metrics.registry.register(ScaleCollector(self.scale))
            self.batcher = self.scale.start_writer(
                self._insert_rows, batcher_stats, self.metrics.observe_flush
            )
        limits = rate_limits(settings)
        self.ingest = IngestEndpoint(
            gate=self.scale.gate(bridge)
            if self.scale
            else (LocalRateLimiter(limits) if LocalRateLimiter.needed(limits) else None),
            lookups=self.lookups,
            spool=self.spool,
            stats=self.stats,
            max_body_bytes=settings.max_body_bytes,
            country_header=settings.country_header,
            client_ip_header=settings.client_ip_header,
        )
        self._inserting_since: float | None = None
        self.lifecycle = Lifecycle(
            self.store,
            settings,
            self.sites,
            spool=self.spool if isinstance(self.spool, Spool) else None,
            writes=self.writes,
            journal=Journal(settings.spool_path) if isinstance(self.spool, Spool) else None,
            on_sites_changed=self.reload_sites,
        )
        try:
            changed = self.lifecycle.apply_retention()
        except StoreError as exc:  # the store serves; retention waits for the next change
            log.warning("retention rules not applied", extra={"error": str(exc)})
        else:
            if changed:
                log.info("retention rules rewritten", extra={"tables": changed})
        self._refresher: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._start_alerts()
        self.batcher.start()
        log.info(
            "runtime started",
            extra={"store": self.store.description, "spool": self.spool.describe()},
        )

    def _start_alerts(self) -> None:
        """The alert evaluator (app/alerts/service.py) and the live snapshots: in scale
        mode the lease decides which worker evaluates and publishes."""
        settings = self.settings
        spool = self.spool
        health = IngestHealth(
            lambda: self.stats.events_dropped_by_site,
            (lambda: spool.backlog_bytes) if self.scale is None else None,
        )
        self.alert_store = AlertStore(self.store)
        scale = self.scale
        self.alerts = AlertService(
            settings,
            self.alert_store,
            MetricReader(self.store, health),
            redis=scale.redis if scale else None,
            keys=scale.keys if scale else None,
            backlog_probe=scale.stream_length if scale else None,
        )
        self.live = LiveHub(self.store)
        self.live_publisher = (
            LivePublisher(
                self.store,
                scale.redis,
                scale.keys,
                self.registry.site_ids,
                lambda: self.alerts.leader or self.settings.alerts_interval <= 0,
            )
            if scale
            else None
        )
        self.metrics.registry.register(AlertCollector(self.alerts))

    def _recent_sessions(self) -> list[tuple[str, str, int, int, int, int]]:
        """Sessions with events in the last half hour, to continue them after a restart."""
        rows = self.store.rows(
            "SELECT site_id, sid, argMax(visitor_id, ts), max(session_seq), "
            "toUnixTimestamp64Milli(argMax(session_start, ts)), toUnixTimestamp64Milli(max(ts)) "
            f"FROM {self.store.table('events')} "
            "WHERE received_at > now64(3) - INTERVAL 31 MINUTE GROUP BY site_id, sid"
        )
        return [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    def _insert_rows(self, body: bytes, token: str) -> None:
        # The start of the insert running, for `stored_horizon` (before the call: the
        # rows' stored_at, ClickHouse's now64() during the insert, is at or after it).
        with self.writes:
            self._inserting_since = time.time()
            try:
                self.store.insert_json_rows("events", EVENT_COLUMNS, body, dedup_token=token)
            finally:
                self._inserting_since = None

    def stored_horizon(self) -> dt.datetime:
        """A time before which every row of `events` that will ever be stored with an
        earlier `stored_at` is visible now (the export's keyset reads only up to it).

        This process inserts one batch at a time: rows of the insert running (which may
        be partly visible, a part per month) have `stored_at` at or after its start, and
        an insert that starts later has later ones. A ClickHouse server may take inserts
        from several writers at once, so there it trails by `SERVER_STORE_MARGIN`.
        """
        running = self._inserting_since
        horizon = running if running is not None else time.time()
        if not self.store.embedded:
            horizon -= SERVER_STORE_MARGIN
        return dt.datetime.fromtimestamp(horizon, dt.UTC).replace(tzinfo=None)

    def reload_sites(self) -> None:
        self.registry.replace(self.sites.all(), self.sites.token_sites())
        self.shares.replace(self.share_keys.active())

    def start_background(self) -> None:
        self.alerts.start(evaluate=self.settings.alerts_interval > 0)
        self.live.start()
        if self.live_publisher is not None:
            self.live_publisher.start()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())
        if self.scale is not None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_forever())

    async def _publish_forever(self) -> None:
        """Scale mode: keep the registry in Redis equal to ours (for ingest processes)."""
        assert self.scale is not None and isinstance(self.registry, PublishedRegistry)
        registry, scale = self.registry, self.scale
        while True:
            if registry.changed:
                try:
                    await anyio.to_thread.run_sync(registry.publish, scale.sync_redis, scale.keys)
                except Exception as exc:
                    log.warning("publishing sites into Redis failed", extra={"error": str(exc)})
            await asyncio.sleep(PUBLISH_SECONDS)

    async def _refresh_forever(self) -> None:
        next_close = 0.0
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await anyio.to_thread.run_sync(self.reload_sites)
                await anyio.to_thread.run_sync(self.salts.prefetch, int(time.time() * 1000))
            except Exception as exc:
                log.warning("refresh of sites and salts failed", extra={"error": str(exc)})
            if time.monotonic() >= next_close:
                next_close = time.monotonic() + CLOSE_SESSIONS_SECONDS
                try:
                    await anyio.to_thread.run_sync(self.close_finished_sessions)
                except Exception as exc:
                    log.warning("closing finished sessions failed", extra={"error": str(exc)})

    def close_finished_sessions(self) -> None:
        """Settle the sessions written since the last run (`app/store/closer.py`), then
        close the days that can no longer change (`app/store/closing.py`)."""
        with self.lifecycle.lock:
            self._close_finished_sessions()

    def _close_finished_sessions(self) -> None:
        now = dt.datetime.now(dt.UTC)
        days = settle_sessions(self.store, now=now)
        if days:
            log.info("sessions settled", extra={"first": str(days[0]), "last": str(days[-1])})
        until = closable_until(now, dt.timedelta(hours=self.settings.max_event_age_hours))
        closed = close_days(self.store, until=until)
        if closed:
            log.info("days closed", extra={"first": str(closed[0]), "last": str(closed[-1])})

    async def stop(self) -> None:
        await self.alerts.stop()
        await self.live.stop()
        if self.live_publisher is not None:
            await self.live_publisher.stop()
        for task in (self._refresher, self._publisher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await anyio.to_thread.run_sync(self.batcher.stop)
        self.spool.close()
        if self.scale is not None:
            await self.scale.aclose()
        log.info("runtime stopped", extra={"spool": self.spool.describe()})
