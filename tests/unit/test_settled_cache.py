"""Per-process caches of settled numbers (app/store/settled_cache.py): bounded, least
recently used out first, and forgotten all at once — by an erasure, whatever reader
keeps them."""

from __future__ import annotations

import datetime as dt
import threading

from app.lifecycle import erasure
from app.query import vitals_cache
from app.store.segments import SegmentKey
from app.store.settled_cache import SettledCache, clear_all
from app.triage import rollups

DAY = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _key(name: str) -> SegmentKey:
    return SegmentKey("store", "site", DAY, DAY + dt.timedelta(days=1), scope=(name,))


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: SettledCache[int] = SettledCache("test", 2)
    a, b, c = _key("a"), _key("b"), _key("c")
    assert cache.put(a, 1) == [] and cache.put(b, 2) == []
    assert cache.get(a) == 1  # now "b" is the oldest
    assert cache.put(c, 3) == [2]
    assert (cache.get(a), cache.get(b), cache.get(c)) == (1, None, 3)
    assert cache.pop_oldest() == 1 and len(cache) == 1
    cache.clear()
    assert cache.pop_oldest() is None


def test_an_erasure_forgets_every_reader_s_settled_numbers() -> None:
    key = _key("closed days")
    rollups._finalized_sums.put(key, {"fp": (1, 1, 1)})
    with vitals_cache.cache_lock:
        vitals_cache._entries.put(_key("a period"), 0)
    own: SettledCache[str] = SettledCache("a later reader", 4)
    own.put(_key("k"), "v")
    erasure.clear_caches()
    assert rollups._finalized_sums.get(key) is None
    assert vitals_cache.cached_entries() == 0
    assert len(own) == 0


def test_forgetting_waits_for_a_reader_holding_its_lock() -> None:
    lock = threading.RLock()
    cache: SettledCache[int] = SettledCache("locked", 4, lock=lock)
    slot = _key("slot")
    cache.put(slot, 0)
    with lock:  # a reader between looking an entry up and reading what it points to
        clearing = threading.Thread(target=clear_all)
        clearing.start()
        clearing.join(timeout=0.2)
        assert clearing.is_alive()
        assert cache.get(slot) == 0
    clearing.join()
    assert cache.get(slot) is None
