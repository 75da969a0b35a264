"""Sessions: the list of a period's sessions, and one session's timeline.

A timeline lists every event of the session id in time order (all its server-side
parts, each event saying which `session_seq` it belongs to); each error carries its
`issue_id` (the error fingerprint).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from app.query.params import Query
from app.query.sql import Sql, session_rows, touched_sessions
from app.store.client import Store
from app.store.segments import as_utc

__all__ = ["session_list", "timeline"]

_TIMELINE_COLUMNS = (
    "ts",
    "type",
    "session_seq",
    "pid",
    "path",
    "url",
    "title",
    "referrer",
    "referrer_source",
    "name",
    "value",
    "rating",
    "target",
    "attr",
    "props",
    "error_kind",
    "error_type",
    "message",
    "fingerprint",
    "culprit",
    "release",
    "method",
    "req_url",
    "status",
    "text",
    "rage",
    "scroll_depth",
    "engaged_ms",
    "dns",
    "tcp",
    "tls",
    "req",
    "res",
    "dom",
    "load",
    "longtasks",
    "tbt",
)
_KEEP_ZERO = {"value", "session_seq"}


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return value


_LIST_NEEDS = (
    "sid",
    "session_seq",
    "visitor_id",
    "first_ts",
    "duration_ms",
    "views",
    "engaged_ms",
    "errors",
    "engagements",
    "entry_page",
    "exit_page",
    "source",
    "referrer",
    "country",
    "device",
    "browser",
    "os",
)


def session_list(store: Store, query: Query) -> dict[str, Any]:
    """The period's sessions, newest first.

    Two steps: the page's keys and starts (cheap: no merged string column), read from
    the end of the period back (the last hour, then longer ends, until one holds the
    page: the newest sessions of the whole period are the newest of any end of it that
    holds enough of them), then every column for those sessions only, read between the
    first and last start of the page (the filters were applied by the first step). Both
    bind the sessions touched since the last settling run (a superset of those in the
    narrower span: still exact).
    """
    touched = touched_sessions(store, query)
    wanted = query.offset + query.limit
    page: list[tuple[Any, ...]] = []
    # Newest first: the last hours of the period usually hold the whole page. Each try
    # reads a longer end of it, until it holds the page or is the whole period.
    # Events are never stored in the future (the ingest clock fix): count back from now.
    latest = min(query.end, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    for hours in (1, 6, 24, 24 * 7, None):
        back = dt.timedelta(hours=hours) if hours else query.end - query.start
        since = max(query.start, latest - back)
        part = msgspec.structs.replace(query, start=since)
        sql = Sql(store.db)
        keys = (
            f"SELECT session_key, session_start FROM ({session_rows(sql, part, (), touched)}) "
            f"ORDER BY session_start DESC, session_key LIMIT {sql.bind(wanted, 'UInt32')}"
        )
        page = store.rows(keys, sql.params)
        if len(page) >= wanted or since == query.start:
            break
    page = page[query.offset :]
    if not page:
        return {"results": []}
    starts = [as_utc(row[1]) for row in page]
    span = msgspec.structs.replace(
        query, start=min(starts), end=max(starts) + dt.timedelta(milliseconds=1), filters=()
    )
    sql = Sql(store.db)
    text = (
        "SELECT sid, session_seq, visitor_id, first_ts AS start, duration_ms, "
        "views AS pageviews, engaged_ms, errors, views = 1 AND engagements = 0 AS bounced, "
        "entry_page, exit_page, source, referrer, country, device, browser, os "
        f"FROM ({session_rows(sql, span, _LIST_NEEDS, touched)}) "
        f"WHERE session_key IN {sql.bind([row[0] for row in page], 'Array(UInt64)')} "
        "ORDER BY session_start DESC, session_key"
    )
    columns, rows = store.query(text, sql.params)
    results = []
    for row in rows:
        item = {name: _iso(value) for name, value in zip(columns, row, strict=True)}
        item["bounced"] = bool(item["bounced"])
        results.append(item)
    return {"results": results}


def timeline(store: Store, query: Query, sid: str) -> dict[str, Any]:
    sql = Sql(store.db)
    text = (
        f"SELECT {', '.join(_TIMELINE_COLUMNS)} FROM {sql.table('events')} "
        f"WHERE {sql.site(query)} AND sid = {sql.bind(sid, 'String')} "
        f"AND {sql.ts_range(query.start, query.end)} "
        "ORDER BY ts, type LIMIT 10000"
    )
    columns, rows = store.query(text, sql.params)
    events = []
    for row in rows:
        event = {
            name: _iso(value)
            for name, value in zip(columns, row, strict=True)
            if value not in ("", 0, {}, 0.0) or name in _KEEP_ZERO or name == "type"
        }
        if event["type"] != "vital":
            event.pop("value", None)
        if event["type"] == "error":
            event["issue_id"] = event.get("fingerprint", "")
        events.append(event)
    return {"sid": sid, "events": events}
