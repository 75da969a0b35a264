"""Engagement (engaged time, scroll depth, clicks, rage clicks) and realtime visitors.

Distributions are over the sessions of the period (the `sessions` rollup); click
targets come from the period's click events (of the filtered sessions, with filters).
"""

from __future__ import annotations

from typing import Any

from app.query.params import Query
from app.query.sql import SESSION_CONSTANT, Sql, session_rows
from app.query.traffic import event_conditions, look_up
from app.store.client import Store

__all__ = ["ENGAGED_BUCKETS", "SCROLL_BUCKETS", "engagement", "realtime"]

# Lower bounds, in ms and percent; each bucket runs to the next bound.
ENGAGED_BUCKETS = (0, 10_000, 30_000, 60_000, 180_000, 600_000)
SCROLL_BUCKETS = (0, 25, 50, 75, 100)


def _label_ms(low: int, high: int | None) -> str:
    return f"{low // 1000}s+" if high is None else f"{low // 1000}-{high // 1000}s"


def engagement(store: Store, query: Query) -> dict[str, Any]:
    sql = Sql(store.db)
    engaged_bounds = sql.bind(list(ENGAGED_BUCKETS), "Array(UInt64)")
    scroll_bounds = sql.bind(list(SCROLL_BUCKETS), "Array(UInt64)")
    text = (
        f"SELECT arrayFirstIndex(b -> engaged_ms < b, arrayPopFront({engaged_bounds})) AS e, "
        f"arrayFirstIndex(b -> max_scroll < b, arrayPopFront({scroll_bounds})) AS s, count() "
        f"FROM ({session_rows(sql, query, ('engaged_ms', 'max_scroll'))}) GROUP BY e, s"
    )
    engaged = [0] * len(ENGAGED_BUCKETS)
    scroll = [0] * len(SCROLL_BUCKETS)
    sessions = 0
    for e_index, s_index, count in store.rows(text, sql.params):
        # arrayFirstIndex is 1-based, 0 when the value is past the last bound.
        engaged[(e_index or len(ENGAGED_BUCKETS)) - 1] += count
        scroll[(s_index or len(SCROLL_BUCKETS)) - 1] += count
        sessions += count
    engaged_rows = [
        {
            "bucket": _label_ms(
                low, ENGAGED_BUCKETS[i + 1] if i + 1 < len(ENGAGED_BUCKETS) else None
            ),
            "sessions": engaged[i],
            "share": round(engaged[i] / sessions, 6) if sessions else 0.0,
        }
        for i, low in enumerate(ENGAGED_BUCKETS)
    ]
    scroll_rows = [
        {
            "bucket": f"{low}-{SCROLL_BUCKETS[i + 1]}%" if i + 1 < len(SCROLL_BUCKETS) else "100%",
            "sessions": scroll[i],
            "share": round(scroll[i] / sessions, 6) if sessions else 0.0,
        }
        for i, low in enumerate(SCROLL_BUCKETS)
    ]
    sql = Sql(store.db)
    by_session = any(f.dimension not in SESSION_CONSTANT for f in query.filters)
    found = look_up(store, query)[0] if by_session else None
    restrict = "".join(f"AND {c} " for c in event_conditions(sql, query, found))
    text = (
        "SELECT target, count() AS clicks, countIf(rage > 0) AS rage_clicks, "
        "uniqExact(visitor_id) AS visitors, any(text) AS text "
        f"FROM {sql.table('events')} WHERE {sql.site(query)} "
        f"AND type = 'click' AND {sql.ts_range(query.start, query.end)} {restrict}"
        f"GROUP BY target ORDER BY clicks DESC, target LIMIT {sql.bind(query.limit, 'UInt32')}"
    )
    columns, rows = store.query(text, sql.params)
    clicks = [dict(zip(columns, row, strict=True)) for row in rows]
    return {
        "sessions": sessions,
        "engaged_time": engaged_rows,
        "scroll_depth": scroll_rows,
        "top_clicks": clicks,
        "rage_clicks": sorted(
            (c for c in clicks if c["rage_clicks"]), key=lambda c: (-c["rage_clicks"], c["target"])
        ),
    }


def realtime(store: Store, query: Query) -> dict[str, Any]:
    """Visitors with an event received in the last 5 minutes, and their top pages."""
    sql = Sql(store.db)
    since = sql.bind(5, "UInt32")
    base = (
        f"FROM {sql.table('events')} WHERE {sql.site(query)} "
        f"AND received_at >= now64(3) - INTERVAL {since} MINUTE"
    )
    visitors, pageviews = store.rows(
        f"SELECT uniqExact(visitor_id), countIf(type = 'pageview') {base}", sql.params
    )[0]
    pages = store.rows(
        f"SELECT path, uniqExact(visitor_id) AS v {base} AND type = 'pageview' "
        "GROUP BY path ORDER BY v DESC, path LIMIT 10",
        sql.params,
    )
    return {
        "visitors": int(visitors),
        "pageviews": int(pageviews),
        "window_minutes": 5,
        "top_pages": [{"page": p, "visitors": int(v)} for p, v in pages],
    }
