"""Settled segments and the live edge: where a reader cuts a period, and the one key of
the numbers it keeps per segment.

Every reader of closed days cuts a period the same way (`split`): sessions and traffic
from their closed copies (app/query/sql.py, traffic.py, metrics.py), and the readers that
keep merged numbers in this process — vitals (app/query/vitals.py, its tables in
app/query/vitals_cache.py) and issues (app/triage/rollups.py):

- **closed**: before the closed horizon (app/store/horizon.py). Ingest drops every event
  that could still belong to it, so what is read of it once holds for good.
- **settled**: from the horizon to where the live edge begins (the current hour for
  vitals, today for the issue list). It changes only when a late event arrives, so the
  reader keys it by what such an event would change (samples per hour, events per day):
  a late event makes a new key, and the stale entry ages out.
- **live**: the rest, read anew on every query.

A reader that has no settled segment (the closed copies, the issue detail) leaves out
`live_from`: its live edge starts at the horizon.

`SegmentKey` keys every cache of such numbers (app/store/settled_cache.py): the store,
the site, the segment's bounds, what the reader computed over them (`scope`: its
filters, metrics, the issue) and what would make them stale (`guard`: the horizon's
marker, counts of the settled part). A new reader of settled numbers declares its scope
and guard; it does not invent a key of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from typing import Any

import msgspec

from app.store.client import Store

__all__ = [
    "Bounds",
    "SegmentKey",
    "Split",
    "as_utc",
    "midnight",
    "split",
    "store_identity",
    "whole_days",
]

Bounds = tuple[dt.datetime, dt.datetime]


class Split(msgspec.Struct, frozen=True):
    """A period cut into its closed segment, its settled segment and its live edge, in
    that order, each as [start, end) or None when empty."""

    closed: Bounds | None
    settled: Bounds | None
    live: Bounds | None


def split(
    start: dt.datetime,
    end: dt.datetime,
    horizon: dt.datetime | None,
    live_from: dt.datetime | None = None,
) -> Split:
    """[start, end) cut at the closed `horizon` (None: nothing is closed yet) and at
    `live_from`, each moved into the period. Without `live_from` the live edge starts at
    the horizon: no settled segment."""
    closed_end = start if horizon is None else min(max(start, horizon), end)
    live_start = closed_end if live_from is None else min(max(closed_end, live_from), end)
    return Split(
        closed=(start, closed_end) if start < closed_end else None,
        settled=(closed_end, live_start) if closed_end < live_start else None,
        live=(live_start, end) if live_start < end else None,
    )


def whole_days(start: dt.datetime, end: dt.datetime) -> tuple[Bounds | None, tuple[Bounds, ...]]:
    """The whole UTC days of [start, end) as a range of midnights (None when there are
    none), and the partial ranges before and after them (the whole period when none)."""
    start, end = as_utc(start), as_utc(end)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += dt.timedelta(days=1)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if first >= last:
        return None, ((start, end),)
    return (first, last), tuple(r for r in ((start, first), (last, end)) if r[0] < r[1])


def midnight(day: dt.date) -> dt.datetime:
    """Midnight UTC that starts `day`: the bound of a segment of whole days."""
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def store_identity(store: Store) -> str:
    """Which store a key belongs to: the embedded store's path (or the server) and the
    database."""
    return f"{store.description}/{store.db}"


class SegmentKey(msgspec.Struct, frozen=True):
    """What numbers kept of a segment are, and what they depend on."""

    store: str
    site: str
    start: dt.datetime
    end: dt.datetime
    #: what the reader computed over the segment (the same for every segment of a query)
    scope: tuple[Any, ...] = ()
    #: what would make the numbers stale: a new value gives a new key
    guard: Hashable = None

    @classmethod
    def of(
        cls,
        store: Store,
        site: str,
        bounds: Bounds,
        scope: tuple[Any, ...] = (),
        guard: Hashable = None,
    ) -> SegmentKey:
        start, end = bounds
        return cls(store_identity(store), site, as_utc(start), as_utc(end), scope, guard)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """One spelling per instant (naive read as UTC), so that equal bounds make equal keys."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
