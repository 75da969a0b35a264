"""HTTP routes of the analytics API (DESIGN §7), all under `/api/v1/sites/{site}/`.

Each handler checks the bearer token (guard), parses the parameters into a `Query`
(400 with the parameter's name when wrong), runs the query function in a worker thread
(the store client blocks) and answers JSON, or CSV with `Accept: text/csv` for any
answer that is a table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException, ValidationException

from app.auth import require_site_token
from app.query import engagement as engagement_queries
from app.query import metrics as metric_queries
from app.query import sessions as session_queries
from app.query import vitals as vital_queries
from app.query.params import Query, QueryError, parse_query
from app.runtime import Runtime
from app.store.client import Store

__all__ = ["ANALYTICS_ROUTES"]

QueryFn = Callable[[Store, Query], dict[str, Any]]


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        columns = list(rows[0])
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([v if not isinstance(v, dict | list) else str(v) for v in row.values()])
    return buffer.getvalue()


async def answer(
    request: Request,
    site: str,
    run: QueryFn,
    *,
    allowed: Sequence[str] = (),
    default_period: str = "30d",
    table: str = "results",
) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    params = {key: request.query_params.getall(key) for key in request.query_params}
    try:
        query = parse_query(site, params, allowed=allowed, default_period=default_period)
        result = await anyio.to_thread.run_sync(run, runtime.store, query)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None
    if "text/csv" in request.headers.get("accept", ""):
        rows = result.get(table) if table else None
        if not isinstance(rows, list):
            rows = [{k: v for k, v in result.items() if not isinstance(v, dict | list)}]
        return Response(_csv(rows), media_type="text/csv; charset=utf-8")
    return Response(result)


SITE = "/api/v1/sites/{site:str}"
#: DESIGN §6 and §7, stated on every analytics route of the OpenAPI schema.
PERIOD_RULES = (
    "Periods and buckets (any IANA zone, `tz`): an event count (page views, errors, vital "
    "samples, clicks, a page's error rate) belongs to the bucket of the event's own time; a "
    "session metric (sessions, bounce and engagement rates, views per session, durations, "
    "engaged time) to the bucket in which the session starts; visitors are the distinct "
    "visitors with any event in the bucket. `from`/`to`: a date `to` is the last whole day "
    "included (the period ends at the next local midnight); a date-time `to` is exclusive."
)
_guarded: dict[str, Any] = {
    "guards": [require_site_token],
    "tags": ["analytics"],
    "description": PERIOD_RULES,
}


_OVERVIEW_ANSWER = (
    " The answer holds the previous period of equal length as `previous` unless "
    "`compare=false`, and both periods' bounds as `period` and `previous_period` "
    "(`from`, `to`)."
)


@get(
    SITE + "/overview",
    summary="Visitors, sessions, rates and durations",
    **(_guarded | {"description": PERIOD_RULES + _OVERVIEW_ANSWER}),
)
async def overview(request: Request, site: str) -> Response[Any]:
    # The previous period comes along unless `compare=false`.
    with_previous = request.query_params.get("compare") != "false"
    return await answer(
        request,
        site,
        lambda store, query: metric_queries.overview(store, query, with_previous=with_previous),
        table="",
    )


@get(SITE + "/timeseries", summary="Any session metric per minute/hour/day/week", **_guarded)
async def timeseries(request: Request, site: str) -> Response[Any]:
    return await answer(request, site, metric_queries.timeseries, allowed=("interval", "metric"))


@get(SITE + "/breakdown/{dimension:str}", summary="Metrics by a dimension", **_guarded)
async def breakdown(request: Request, site: str, dimension: str) -> Response[Any]:
    return await answer(
        request,
        site,
        lambda store, query: metric_queries.breakdown(store, query, dimension),
        allowed=("limit", "offset"),
    )


@get(SITE + "/vitals", summary="Web vitals percentiles, ratings and attribution", **_guarded)
async def vitals(request: Request, site: str) -> Response[Any]:
    return await answer(
        request, site, vital_queries.vitals, allowed=("by", "metric", "limit"), table="breakdown"
    )


@get(SITE + "/vitals/timeseries", summary="Web vitals percentiles per bucket", **_guarded)
async def vitals_timeseries(request: Request, site: str) -> Response[Any]:
    return await answer(
        request, site, vital_queries.vitals_timeseries, allowed=("interval", "metric")
    )


@get(
    SITE + "/vitals/errors-impact",
    summary="Sessions with errors vs without: bounce, INP",
    **_guarded,
)
async def errors_impact(request: Request, site: str) -> Response[Any]:
    return await answer(request, site, vital_queries.errors_impact, table="")


@get(SITE + "/engagement", summary="Engaged time, scroll depth, clicks", **_guarded)
async def engagement(request: Request, site: str) -> Response[Any]:
    return await answer(
        request, site, engagement_queries.engagement, allowed=("limit",), table="top_clicks"
    )


@get(SITE + "/realtime", summary="Visitors in the last 5 minutes", **_guarded)
async def realtime(request: Request, site: str) -> Response[Any]:
    return await answer(
        request, site, engagement_queries.realtime, default_period="realtime", table="top_pages"
    )


@get(SITE + "/sessions", summary="Sessions in the period", **_guarded)
async def sessions(request: Request, site: str) -> Response[Any]:
    return await answer(request, site, session_queries.session_list, allowed=("limit", "offset"))


@get(SITE + "/sessions/{sid:str}", summary="One session's timeline", **_guarded)
async def session_timeline(request: Request, site: str, sid: str) -> Response[Any]:
    def timeline(store: Store, query: Query) -> dict[str, Any]:
        found = session_queries.timeline(store, query, sid)
        if not found["events"]:
            raise NotFoundException(f"no session {sid!r} in this period")
        return found

    return await answer(request, site, timeline, default_period="90d", table="events")


ANALYTICS_ROUTES = [
    overview,
    timeseries,
    breakdown,
    vitals,
    vitals_timeseries,
    errors_impact,
    engagement,
    realtime,
    sessions,
    session_timeline,
]
