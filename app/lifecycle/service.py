"""The lifecycle operations of a running store, with the locking they need.

One `Lifecycle` per process that owns the store (the server, the scale-mode worker, or
the CLI when no server runs). Its `lock` serializes every lifecycle and admin operation
and the closers (sessions settling, days closing), so none reads a table another is
rebuilding, and journal entries fall strictly before or after a backup. `writes` is the
writer's lock (the batcher holds it from a batch's checkpoint to its commit): held, no
insert lands in the middle of an erasure or a backup.

Before an erasure or a site deletion, everything acknowledged so far is stored first
(`wait_stored`), so rows still in the spool cannot bring the person back afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from app.buffer.batcher import Batcher
from app.buffer.spool import Spool
from app.config import Settings
from app.lifecycle import backup as backups
from app.lifecycle import erasure, retention
from app.lifecycle.journal import Journal
from app.store.client import Store
from app.store.rows import EVENT_COLUMNS
from app.store.sites import SiteStore

__all__ = ["Lifecycle"]

STORE_WAIT_SECONDS = 120.0


class Lifecycle:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        sites: SiteStore,
        *,
        spool: Spool | None,
        writes: threading.RLock,
        journal: Journal | None,
        on_sites_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.sites = sites
        self.spool = spool
        self.writes = writes
        self.journal = journal
        self.lock = threading.RLock()
        self._on_sites_changed = on_sites_changed
        if journal is not None:
            sites.on_write = self._journal_row

    @classmethod
    def offline(cls, settings: Settings, store: Store, sites: SiteStore) -> Lifecycle:
        """For the CLI when no server owns the store: the spool is replayed first, so
        the store holds everything acknowledged."""
        if settings.scale or not settings.embedded:
            return cls(store, settings, sites, spool=None, writes=threading.RLock(), journal=None)
        spool = Spool(settings.spool_path, max_bytes=settings.spool_max_bytes, fsync=True)

        def insert(body: bytes, token: str) -> None:
            store.insert_json_rows("events", EVENT_COLUMNS, body, dedup_token=token)

        batcher = Batcher(spool, insert, batch_rows=settings.batch_rows, batch_ms=0)
        batcher.start()
        batcher.stop(timeout=STORE_WAIT_SECONDS)
        return cls(
            store,
            settings,
            sites,
            spool=spool,
            writes=threading.RLock(),
            journal=Journal(settings.spool_path),
        )

    def close(self) -> None:
        """Release what `offline` opened."""
        if self.spool is not None:
            self.spool.close()

    # -- helpers -----------------------------------------------------------------------

    def position(self) -> int:
        return self.spool.checkpoint.stored if self.spool is not None else 0

    def _journal_row(self, table: str, row: dict[str, Any]) -> None:
        assert self.journal is not None
        self.journal.append(self.position(), "row", table=table, row=row)

    def wait_stored(self) -> None:
        """Until everything acknowledged before this call is in the store."""
        if self.spool is None:
            return
        target = self.spool.durable_end
        deadline = time.monotonic() + STORE_WAIT_SECONDS
        while self.spool.checkpoint.stored < target:
            if time.monotonic() > deadline:
                raise RuntimeError("the store is behind the spool; try again once it has caught up")
            time.sleep(0.05)

    # -- operations --------------------------------------------------------------------

    def erase(
        self, site: str, kind: Literal["uid", "sid"], value: str, *, by: str
    ) -> erasure.Erasure:
        with self.lock:
            self.wait_stored()
            with self.writes:
                done = erasure.erase(self.store, site, kind, value, by=by)
                if self.journal is not None:
                    self.journal.append(
                        self.position(),
                        "erase",
                        site=site,
                        erase_kind=kind,
                        subject_hash=done.subject_hash,
                        by=by,
                    )
        return done

    def delete_site(self, site: str, *, by: str) -> erasure.Erasure:
        with self.lock:
            if self.sites.get(site) is None:
                raise KeyError(f"no site with key {site!r}")
            self.sites.mark_deleted(site)  # refused by ingest from now on
            self._on_sites_changed()
            self.wait_stored()
            with self.writes:
                done = erasure.delete_site(self.store, site, by=by)
                if self.journal is not None:
                    self.journal.append(self.position(), "site_delete", site=site, by=by)
            self._on_sites_changed()
            retention.apply_retention(self.store, self.settings, self.sites.all())
        return done

    def set_retention(self, site: str, retention_days: int, rollup_retention_days: int) -> None:
        retention.validate_retention(retention_days, rollup_retention_days)
        with self.lock:
            self.sites.set_retention(site, retention_days, rollup_retention_days)
            self.apply_retention()

    def apply_retention(self) -> list[str]:
        with self.lock:
            changed = retention.apply_retention(self.store, self.settings, self.sites.all())
            if changed:
                erasure.clear_caches()
            return changed

    def backup(self, path: str) -> backups.Manifest:
        with self.lock, self.writes:
            return backups.backup(
                self.store,
                path,
                spool=self.spool,
                spool_dir=self.settings.spool_path,
                journal=self.journal,
            )
