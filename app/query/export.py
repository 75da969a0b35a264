"""`GET /api/v1/sites/{site}/events`: the raw export of enriched events as stored.

Filters: `from`, `to` (ISO 8601; default the last 24 hours), `tz`, `type` (one or more
event types), `sid`, `limit` (≤ 100,000) and `offset`. JSON by default
(`{"events": [...], "count": n}`), CSV with `Accept: text/csv`. Rows come in time
order. Every value is a bound parameter; the column list is fixed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.exceptions import ValidationException
from litestar.params import Parameter

from app.auth import require_site_token
from app.query.period import MAX_SPAN, PeriodError, parse_instant, parse_timezone
from app.runtime import Runtime
from app.store.rows import EVENT_COLUMNS

__all__ = ["EVENT_TYPES", "export_events"]

EVENT_TYPES = frozenset(
    {"pageview", "vital", "timing", "error", "click", "submit", "scroll", "engagement", "custom"}
)
_TIME_COLUMNS = ("ts", "received_at")


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
) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    try:
        zone = parse_timezone(tz)
        now = dt.datetime.now(dt.UTC)
        end = parse_instant("to", to, zone) if to else now + dt.timedelta(minutes=1)
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
    ]
    parameters: dict[str, Any] = {
        "site": site,
        "start": start.replace(tzinfo=None),
        "end": end.replace(tzinfo=None),
        "limit": limit,
        "offset": offset,
    }
    if types:
        conditions.append("type IN {types:Array(String)}")
        parameters["types"] = types
    if sid:
        conditions.append("sid = {sid:String}")
        parameters["sid"] = sid
    sql = (
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM {store.table('events')} "
        f"WHERE {' AND '.join(conditions)} "
        "ORDER BY ts, type LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
    )
    columns, rows = await store.aquery(sql, parameters)
    if "text/csv" in request.headers.get("accept", ""):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([_csv_value(v) for v in row] for row in rows)
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8")
    events = [
        {name: _json_value(value) for name, value in zip(columns, row, strict=True)} for row in rows
    ]
    return Response({"events": events, "count": len(events)})
