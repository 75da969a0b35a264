"""Sparklines of the issue list: events per hour or day of the period, per issue shown.

Asked with `spark=hour|day` on `GET issues`. Counted from the raw error events of the
issues on the page only (the site's error events of the period are one range of the
events table's order key), each in the bucket of its own time in the request's zone, the
same buckets as the analytics time series; empty buckets are zeros.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.query import buckets
from app.query.params import Query
from app.query.sql import Sql
from app.store.client import Store

__all__ = ["MAX_HOURLY", "SPARK_INTERVALS", "issue_sparks", "with_sparks"]

SPARK_INTERVALS = ("hour", "day")
#: Hour buckets only for periods this long or shorter (a month of hours is not a sparkline).
MAX_HOURLY = dt.timedelta(days=7)


def issue_sparks(
    store: Store, query: Query, fingerprints: list[str]
) -> tuple[list[str], dict[str, list[int]]]:
    """(bucket labels, events per bucket of each fingerprint)."""
    column = "toDateTime(ts, 'UTC')"
    starts = buckets.bucket_starts(store, query.start, query.end, query.interval, query.zone)
    labels = [buckets.label(start, query.zone) for start in starts]
    counts: dict[str, list[int]] = {fp: [0] * len(starts) for fp in fingerprints}
    if fingerprints:
        sql = Sql(store.db)
        bucket = buckets.bucket_sql(query.interval, sql.bind(query.tz, "String"))
        text = (
            f"SELECT fingerprint, toUnixTimestamp({bucket(column)}) AS b, count() "
            f"FROM {sql.table('events')} WHERE {sql.site(query)} "
            f"AND type = 'error' AND {sql.ts_range(query.start, query.end)} "
            f"AND fingerprint IN {sql.bind(fingerprints, 'Array(String)')} "
            "GROUP BY fingerprint, b"
        )
        for fingerprint, epoch, events in store.rows(text, sql.params):
            index = buckets.bucket_index(starts, dt.datetime.fromtimestamp(epoch, dt.UTC))
            if index >= 0:
                counts[fingerprint][index] += int(events)
    return labels, counts


def with_sparks(store: Store, query: Query, listing: dict[str, Any]) -> dict[str, Any]:
    """`listing` (an issue list answer) with `spark_interval`, `spark_buckets` and each
    issue's `spark`."""
    labels, sparks = issue_sparks(store, query, [i["issue_id"] for i in listing["issues"]])
    for issue in listing["issues"]:
        issue["spark"] = sparks[issue["issue_id"]]
    return {**listing, "spark_interval": query.interval, "spark_buckets": labels}
