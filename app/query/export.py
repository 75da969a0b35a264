"""`GET /api/v1/sites/{site}/events`: the raw export of enriched events as stored.

Filters: `from`, `to` (ISO 8601, on the events' own time; default the last 24 hours),
`tz`, `type` (one or more event types), `sid`, `limit` (≤ 100,000). JSON by default
(`{"events": [...], "count": n, "next": "<cursor>"}`), CSV with `Accept: text/csv`.
Every value is a bound parameter; the column list is fixed.

Paging: pages follow the order rows were stored — `stored_at` (sql/050), then a row key
(a hash of the row's identifying fields) — and `next` is a keyset cursor after the last
row of the page (within a page, rows are sorted by event time, as they always were);
`cursor=<next>` continues after it, and a `Link: <…>; rel="next"` header is sent while
pages come back full. Rows stored later always sort after the cursor, whatever
their event time (late events, a spool replayed after an outage), so paging through
while events keep arriving returns every row once: a short page means everything stored
so far has been read, and the same `next` later returns what arrived since. A page never
ends between two rows with the same key (`LIMIT … WITH TIES`: exact duplicates share it),
and a row is only returned once every row stored before it is visible
(`Runtime.stored_horizon`). `offset` still pages by position, as before the cursor, but
rows that arrive meanwhile shift its pages.

Cost: each page reads the period's `stored_at` and key columns to find its rows, so an
export of a very large period is cheaper in periods of a day or so.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import urllib.parse
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import ValidationException
from litestar.params import Parameter

from app.auth import require_site_token
from app.query.period import MAX_SPAN, PeriodError, parse_instant, parse_timezone
from app.runtime import Runtime
from app.store.rows import EVENT_COLUMNS

__all__ = ["EVENT_TYPES", "ROW_KEY", "Cursor", "decode_cursor", "encode_cursor", "export_events"]

EVENT_TYPES = frozenset(
    {"pageview", "vital", "timing", "error", "click", "submit", "scroll", "engagement", "custom"}
)
_TIME_COLUMNS = ("ts", "received_at")
_TS, _TYPE = EVENT_COLUMNS.index("ts"), EVENT_COLUMNS.index("type")
#: The keyset's second part: stable (every column in it is written once) and nearly
#: unique; rows equal in it and in `stored_at` are exact duplicates, kept on one page.
ROW_KEY = (
    "cityHash64(sid, pid, type, ts, received_at, name, value, target, text, message, "
    "fingerprint, session_seq)"
)


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """The position after a row: its `stored_at` (µs since the epoch) and row key."""

    stored_us: int
    key: int


def encode_cursor(cursor: Cursor) -> str:
    raw = f"1.{cursor.stored_us}.{cursor.key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The cursor in `text`; ValueError for anything this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        version, stored, key = raw.split(".")
        if version != "1":
            raise ValueError(version)
        return Cursor(int(stored), int(key))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValueError("cursor: not a cursor this API handed out (use `next`)") from None


def _microseconds(value: dt.datetime) -> int:
    return (value.replace(tzinfo=None) - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def _next_link(request: Request, cursor: str) -> str:
    query = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(request.url.query, keep_blank_values=True)
        if k not in ("cursor", "offset")
    ]
    query.append(("cursor", cursor))
    url = request.url
    return f'<{url.path}?{urllib.parse.urlencode(query)}>; rel="next"'


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return value


def _csv_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _json_value(value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in sorted(value.items()))
    return value


@get(
    "/api/v1/sites/{site:str}/events",
    guards=[require_site_token],
    opt={"share": False},  # a shared link shows the dashboard, not the raw events
    summary="Raw export of stored events",
    tags=["export"],
)
async def export_events(
    request: Request,
    site: str,
    from_: Annotated[str | None, Parameter(query="from")] = None,
    to: str | None = None,
    tz: str | None = None,
    type_: Annotated[list[str] | None, Parameter(query="type")] = None,
    sid: Annotated[str | None, Parameter(max_length=64)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100_000)] = 1000,
    offset: Annotated[int, Parameter(ge=0, le=10_000_000)] = 0,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    try:
        after = decode_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise ValidationException(str(exc)) from None
    if after is not None and offset:
        raise ValidationException("offset: give either a cursor or an offset, not both")
    try:
        zone = parse_timezone(tz)
        now = dt.datetime.now(dt.UTC)
        end = parse_instant("to", to, zone, last_day=True) if to else now + dt.timedelta(minutes=1)
        start = parse_instant("from", from_, zone) if from_ else end - dt.timedelta(days=1)
    except PeriodError as exc:
        raise ValidationException(str(exc)) from None
    if start >= end:
        raise ValidationException("from: must be before to")
    if end - start > MAX_SPAN:
        raise ValidationException(f"from/to: the period is longer than {MAX_SPAN.days} days")
    types = sorted(set(type_ or []))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise ValidationException(
            f"type: unknown event type {unknown[0]!r}; one of {', '.join(sorted(EVENT_TYPES))}"
        )
    store = runtime.store
    conditions = [
        "site_id = {site:String}",
        "ts >= {start:DateTime64(3, 'UTC')}",
        "ts < {end:DateTime64(3, 'UTC')}",
        # The sort key has the day, not `ts`: a range of `ts` alone narrows nothing.
        "toDate(ts) >= toDate({start:DateTime64(3, 'UTC')})",
        "toDate(ts) <= toDate({end:DateTime64(3, 'UTC')})",
        "stored_at < {horizon:DateTime64(6, 'UTC')}",
    ]
    parameters: dict[str, Any] = {
        "site": site,
        "start": start.replace(tzinfo=None),
        "end": end.replace(tzinfo=None),
        "horizon": runtime.stored_horizon(),
        "limit": limit,
        "offset": offset,
    }
    if after is not None:
        conditions.append(
            "(stored_at, row_key) > (fromUnixTimestamp64Micro({after_us:Int64}, 'UTC'), "
            "{after_key:UInt64})"
        )
        parameters["after_us"] = after.stored_us
        parameters["after_key"] = after.key
    if types:
        conditions.append("type IN {types:Array(String)}")
        parameters["types"] = types
    if sid:
        conditions.append("sid = {sid:String}")
        parameters["sid"] = sid
    sql = (
        f"SELECT {', '.join(EVENT_COLUMNS)}, toUnixTimestamp64Micro(stored_at), "
        f"{ROW_KEY} AS row_key FROM {store.table('events')} "
        f"WHERE {' AND '.join(conditions)} "
        "ORDER BY stored_at, row_key LIMIT {limit:UInt32} OFFSET {offset:UInt32} WITH TIES"
    )
    columns, rows = await store.aquery(sql, parameters)
    columns = columns[: len(EVENT_COLUMNS)]
    last = Cursor(int(rows[-1][-2]), int(rows[-1][-1])) if rows else after
    # Within the page, event-time order, as before the cursor (a page that holds a whole
    # export reads as it always did); the cursor is the keyset position of its last row.
    rows.sort(key=lambda row: (row[_TS], row[_TYPE]))
    next_cursor = encode_cursor(last) if last is not None else None
    headers = {}
    if next_cursor is not None and len(rows) >= limit:
        headers["Link"] = _next_link(request, next_cursor)
    if "text/csv" in request.headers.get("accept", ""):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([_csv_value(v) for v in row[: len(columns)]] for row in rows)
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    events = [
        {name: _json_value(value) for name, value in zip(columns, row, strict=False)}
        for row in rows
    ]
    return Response({"events": events, "count": len(events), "next": next_cursor}, headers=headers)
