"""Beacon's real ingest pipeline in the test process, writing into a test's own store.

For tests that must control the store's state between queries (sessions settled or not,
days closed or not) and send traffic dated weeks back: the same decode, pipeline and row
encoding as `POST /api/event`, without the HTTP server and the spool: rows wait in memory and go to
the store in one insert per `BATCH_ROWS` (as the batcher does), and at `flush`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from app.config import Settings
from app.ingest.expand import PageCache
from app.ingest.outcomes import Drop, IngestStats
from app.ingest.pipeline import Lookups, RequestInfo, run_pipeline
from app.ingest.schema import Batch
from app.ingest.site import SiteRegistry
from app.ingest.visitor import SessionBridge
from app.store.client import Store
from app.store.migrate import apply_migrations
from app.store.rows import EVENT_COLUMNS, encode_rows
from app.store.sites import Site

__all__ = ["LocalIngest", "scratch_store"]

_decoder = msgspec.json.Decoder(Batch)
BATCH_ROWS = 20_000


@contextmanager
def scratch_store(engine_dir: Path) -> Iterator[Store]:
    """A new database of the shared embedded engine, migrated, dropped afterwards (for a
    module's fixture: traffic dated years back stays within its retention)."""
    store = Store.open(Settings(data_dir=str(engine_dir), database="t_" + uuid.uuid4().hex[:12]))
    apply_migrations(store, retention_days=4000)
    try:
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.db}")


class LocalIngest:
    """Sends batches through the pipeline into `store`, for one site with a fixed salt."""

    def __init__(self, store: Store, site: str, *, max_event_age_days: int = 400) -> None:
        self.store = store
        self.site = site
        registry = SiteRegistry()
        registry.add(Site(site, "local.test"))
        self.stats = IngestStats()
        self.lookups = Lookups(
            sites=registry,
            salt_of_day=lambda day: day.to_bytes(8, "big") * 4,
            ip_country=None,
            bridge=SessionBridge(),
            pages=PageCache(),
            max_event_age_ms=max_event_age_days * 86_400_000,
        )
        self._inserts = 0
        self._rows: list[bytes] = []
        self._waiting = 0

    def send(self, sid: str, events: list[dict[str, Any]], *, ip: str, user_agent: str) -> int:
        """One batch of `events` for session id `sid`; returns how many rows it made."""
        now_ms = int(time.time() * 1000)
        body = {"site": self.site, "sid": sid, "sent_at": now_ms, "events": events}
        batch = _decoder.decode(msgspec.json.encode(body))
        request = RequestInfo(received_at_ms=now_ms, ip=ip, user_agent=user_agent)
        result = run_pipeline(batch, request, self.lookups, self.stats)
        if isinstance(result, Drop):
            raise AssertionError(f"batch dropped: {result.reason}")
        self._rows.append(encode_rows(result.rows))
        self._waiting += len(result.rows)
        if self._waiting >= BATCH_ROWS:
            self.flush()
        return len(result.rows)

    def flush(self) -> None:
        """Insert every row made so far."""
        if not self._rows:
            return
        self._inserts += 1
        self.store.insert_json_rows(
            "events",
            EVENT_COLUMNS,
            b"".join(self._rows),
            dedup_token=f"local-{self.site}-{self._inserts}",
        )
        self._rows, self._waiting = [], 0
