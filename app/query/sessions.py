"""Sessions: the list of a period's sessions, and one session's timeline.

A timeline lists every event of the session id in time order (all its server-side
parts, each event saying which `session_seq` it belongs to); each error carries its
`issue_id` (the error fingerprint).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.query.params import Query
from app.query.sql import Sql, session_rows
from app.store.client import Store

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
    "last_ts",
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

    Two steps: the keys of the page (cheap: one merged column), then every column for
    those sessions only, since merging all of every session's states is the cost.
    """
    sql = Sql(store.db)
    keys = (
        f"SELECT session_key FROM ({session_rows(sql, query)}) "
        "ORDER BY session_start DESC, session_key "
        f"LIMIT {sql.bind(query.limit, 'UInt32')} OFFSET {sql.bind(query.offset, 'UInt32')}"
    )
    page = [row[0] for row in store.rows(keys, sql.params)]
    if not page:
        return {"results": []}
    sql = Sql(store.db)
    text = (
        "SELECT sid, session_seq, visitor_id, first_ts AS start, "
        "toUnixTimestamp64Milli(last_ts) - toUnixTimestamp64Milli(first_ts) AS duration_ms, "
        "views AS pageviews, engaged_ms, errors, views = 1 AND engagements = 0 AS bounced, "
        "entry_page, exit_page, source, referrer, country, device, browser, os "
        f"FROM ({session_rows(sql, query, _LIST_NEEDS)}) "
        f"WHERE session_key IN {sql.bind(page, 'Array(UInt64)')} "
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
        f"WHERE site_id = {sql.bind(query.site, 'String')} AND sid = {sql.bind(sid, 'String')} "
        f"AND ts >= {sql.instant(query.start)} AND ts < {sql.instant(query.end)} "
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
