"""The closed horizon: the first UTC day that is not closed, as every reader sees it.

`app/store/closing.py` closes the days that ingest can no longer change and records each
in `closed_days` (sql/031). Every reader that cuts a period into settled segments and a
live edge (app/store/segments.py) — sessions, traffic, pages and issues from their closed
copies, the per-process caches of merged vitals (`app/query/vitals_cache.py`) and of
issue counts (`app/triage/rollups.py`) — takes the horizon from here: as a scalar
subquery folded into its own statement, read with the marker that guards a cache (where
and when the last closed day was recorded: a recreated database or a newly closed day
gives a new marker, and the entries keyed by the old one age out), or as this process
read it lately (`recent_horizon`).

A module of its own, below both the closer and the query builders: `closing.py` imports
the session metric definitions of `app/query/sql.py`, which reads the horizon too.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from app.store.client import Store
from app.store.segments import midnight, store_identity

__all__ = [
    "HORIZON_COLUMNS",
    "TRUSTED_SECONDS",
    "Horizon",
    "first_open_day_sql",
    "forget_recent",
    "horizon_from",
    "read_horizon",
    "recent_horizon",
]

#: How long `recent_horizon` trusts a horizon it read: an older horizon only makes a
#: reader take more days from the rollups, which keep the closed days too.
TRUSTED_SECONDS = 600.0


class Horizon(msgspec.Struct, frozen=True):
    """The first day not closed, and the marker of the last closed day's recording."""

    day: dt.date
    recorded: str

    @property
    def start(self) -> dt.datetime:
        """Midnight UTC of `day`: where the live edge begins."""
        return midnight(self.day)


#: The aggregate columns over `closed_days` that make a `Horizon` (`horizon_from`), for a
#: reader that asks for them within a statement of its own.
HORIZON_COLUMNS = "max(day) + 1, toString(max(closed_at)), count()"


def first_open_day_sql(closed_days: str) -> str:
    """A scalar subquery over the table `closed_days` (qualified name): the first day not
    closed, 1970-01-02 when none is (so that every day is on the live side)."""
    return f"(SELECT max(day) + 1 FROM {closed_days})"


def horizon_from(database: str, row: Sequence[Any]) -> Horizon | None:
    """The `Horizon` of a row of `HORIZON_COLUMNS`; None before the first closed day."""
    day, recorded, count = row[0], row[1], row[2]
    return Horizon(day, f"{database}@{recorded}") if count else None


def read_horizon(store: Store) -> Horizon | None:
    """The store's horizon, read now; None before the first closed day."""
    row = store.rows(f"SELECT {HORIZON_COLUMNS} FROM {store.table('closed_days')}")[0]
    return horizon_from(store.db, row)


_recent: dict[str, tuple[dt.datetime, float]] = {}
_recent_lock = threading.Lock()


def recent_horizon(store: Store) -> dt.datetime:
    """Midnight of the first day not closed (the epoch's second day when none is), as
    read within the last `TRUSTED_SECONDS` in this process."""
    key = store_identity(store)
    now = time.monotonic()
    with _recent_lock:
        known = _recent.get(key)
    if known is not None and now - known[1] < TRUSTED_SECONDS:
        return known[0]
    day: dt.date = store.rows(f"SELECT {first_open_day_sql(store.table('closed_days'))}")[0][0]
    horizon = midnight(day)
    with _recent_lock:
        _recent[key] = (horizon, now)
    return horizon


def forget_recent() -> None:
    """Read every store's horizon anew on the next `recent_horizon` (a benchmark's cold
    process)."""
    with _recent_lock:
        _recent.clear()
