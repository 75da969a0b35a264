"""Per-process caches of settled numbers: one kind of cache for every reader.

A reader that cuts a period into settled segments and a live edge (app/store/segments.py)
merges what can no longer change once — the issue counts of closed days
(`app/triage/rollups.py`), the t-digest states of a vitals period's settled part
(`app/query/vitals_cache.py`) — and keeps it here, under the one key of such numbers
(`SegmentKey`: the store, site and segment, the reader's scope, and what would make them
stale). Each cache is bounded, least recently used out first, and safe to share between
the event loop's worker threads.

Every cache registers itself, so that one call forgets them all: an erasure rewrites
closed days under the process (app/lifecycle/), and a benchmark measures a cold process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from app.store.segments import SegmentKey

__all__ = ["SettledCache", "clear_all"]

V = TypeVar("V")

_registry: list[SettledCache[object]] = []
_registry_lock = threading.Lock()


class SettledCache(Generic[V]):
    """At most `limit` entries, least recently used out first. `lock`: the reader's own
    (re-entrant) lock, when what an entry points to must not change while the reader
    holds it — then forgetting the entries waits for the reader too."""

    def __init__(self, name: str, limit: int, *, lock: threading.RLock | None = None) -> None:
        self.name = name
        self.limit = limit
        self._entries: OrderedDict[SegmentKey, V] = OrderedDict()
        self._lock = lock if lock is not None else threading.RLock()
        with _registry_lock:
            _registry.append(self)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: SegmentKey) -> V | None:
        """The entry of `key` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: SegmentKey, value: V) -> list[V]:
        """Keep `value` under `key`; returns the values pushed out to stay within `limit`."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            evicted = []
            while len(self._entries) > self.limit:
                evicted.append(self._entries.popitem(last=False)[1])
            return evicted

    def pop_oldest(self) -> V | None:
        """Remove the least recently used entry and return its value (None when empty)."""
        with self._lock:
            return self._entries.popitem(last=False)[1] if self._entries else None

    def values(self) -> list[V]:
        with self._lock:
            return list(self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def clear_all() -> None:
    """Forget every entry of every cache in this process."""
    with _registry_lock:
        caches = list(_registry)
    for cache in caches:
        cache.clear()
