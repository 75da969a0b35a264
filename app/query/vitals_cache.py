"""A per-process cache of the settled part of a vitals period, merged once.

A period's days before the closed horizon (the first day not recorded in `closed_days`
by app/store/closing.py, read through app/store/horizon.py) can no longer change:
ingest drops every event that could still belong to them (`app/store/closer.py`). The
hours after the horizon, up to the current one, change only when late events arrive,
and then their sample counts in `vitals_hourly` grow. So the t-digest states of a
period's closed days, and of its later hours before the current one, merged per
(dimension, metric, value), give the same answer on every query as long as the horizon
and those counts stay; the first query keeps them in a small Memory table, and a
repeated one merges those rows and reads only the current hour.

Embedded store only: chdb is one process's engine, so the tables and the bookkeeping (a
`SettledCache` of slots, app/store/settled_cache.py) belong to this process alone (a
ClickHouse server is shared by workers). Bounded: at most `CACHED_PERIODS` entries, one
table each, least recently used refilled first. An entry's key (app/store/segments.py)
is guarded by where and when the horizon was recorded and, for the hours after it, by
their sample counts: a moved horizon, a new hour, a late sample (or a recreated
database) makes a new entry, and the stale one ages out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import msgspec

from app.store.client import Store
from app.store.horizon import HORIZON_COLUMNS, Horizon, first_open_day_sql, horizon_from
from app.store.segments import SegmentKey
from app.store.settled_cache import SettledCache

__all__ = [
    "CACHED_PERIODS",
    "Settled",
    "cache_lock",
    "cached_entries",
    "cached_table",
    "clear_cache",
    "settled",
]

#: A period usually takes two entries (its closed days, then its later settled hours),
#: and a dashboard's vitals view asks two periods at once (the totals, and a breakdown):
#: room for that unfiltered and with a few filters. An entry holds one merged t-digest
#: per (dimension value, metric): 280 bytes a row, 0.6 MiB for 455 pages at 100M events.
CACHED_PERIODS = 16
_TABLES = tuple(f"vitals_closed_cache_{slot}" for slot in range(CACHED_PERIODS))
_STATE_TYPE = "AggregateFunction(quantilesTDigest(0.5, 0.75, 0.9, 0.95, 0.99), Float64)"

#: Held while an entry is filled or read: a query must not read a table being refilled.
cache_lock = threading.RLock()
#: Segment -> the slot of its table.
_entries: SettledCache[int] = SettledCache("vitals settled parts", CACHED_PERIODS, lock=cache_lock)


class Settled(msgspec.Struct, frozen=True):
    """What a cache entry's key is made of: the closed horizon (the first day that may
    still change, and where and when its last closed day was recorded), and the vital
    samples of each UTC hour from the horizon on, as (Unix time, samples), in order (an
    hour absent has none)."""

    horizon: Horizon
    samples: tuple[tuple[int, int], ...]


def settled(store: Store, site: str) -> Settled | None:
    """The closed horizon of an embedded store and the site's samples per later hour, or
    None (no closed days yet, or a server)."""
    if not store.embedded:
        return None
    closed_days = store.table("closed_days")
    *row, samples = store.rows(
        f"SELECT {HORIZON_COLUMNS}, "
        f"(SELECT groupArray((toUnixTimestamp(hour), n)) FROM (SELECT hour, sum(samples) AS n "
        f"FROM {store.table('vitals_hourly')} WHERE site_id = {{site:String}} AND dim = '' "
        f"AND hour >= toDateTime({first_open_day_sql(closed_days)}, 'UTC') "
        "GROUP BY hour ORDER BY hour)) "
        f"FROM {closed_days}",
        {"site": site},
    )[0]
    horizon = horizon_from(store.db, row)
    if horizon is None:
        return None
    return Settled(horizon, tuple((int(h), int(n)) for h, n in samples))


def clear_cache() -> None:
    """Forget every entry (a benchmark measures a cold process with it)."""
    with cache_lock:
        _entries.clear()


def cached_entries() -> int:
    """How many entries the cache holds."""
    return len(_entries)


def cached_table(
    store: Store, key: SegmentKey, fill: Callable[[str], tuple[str, dict[str, object]]]
) -> str:
    """The table holding the segment `key`; on a miss, the least recently used slot is
    emptied and filled by the `INSERT … SELECT` that `fill(table)` returns (text and
    parameters). Call with `cache_lock` held, and read the table before releasing it."""
    slot = _entries.get(key)
    if slot is not None:
        return store.table(_TABLES[slot])
    free = sorted(set(range(CACHED_PERIODS)) - set(_entries.values()))
    slot = free[0] if free else _entries.pop_oldest()
    assert slot is not None
    table = store.table(_TABLES[slot])
    store.command(
        f"CREATE TABLE IF NOT EXISTS {table} (dim LowCardinality(String), "
        "name LowCardinality(String), dim_value String, samples UInt64, good UInt64, "
        f"poor UInt64, quantiles {_STATE_TYPE}) ENGINE = Memory"
    )
    store.command(f"TRUNCATE TABLE {table}")
    text, params = fill(table)
    store.command(text, params)
    _entries.put(key, slot)
    return table
