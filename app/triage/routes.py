"""HTTP routes of the triage API (DESIGN §7), under `/api/v1/sites/{site}/`.

    GET   /issues                 list: status, q, sort, limit, offset, period (from/to/period, tz),
                                  spark=hour|day (a sparkline per issue, app/triage/sparks.py)
    GET   /issues/{issue_id}      detail
    PATCH /issues/{issue_id}      {"action": "resolve", ...}: resolve, resolve_next_release,
                                  ignore, reopen, assign, comment (app/triage/lifecycle.py)
    POST  /sourcemaps?release=R&file=F   body: the source map JSON

Every route is behind the site's credentials (`app/auth.py`: API token, dashboard session,
or a read-only share key for the GETs); store calls run in a worker thread (the store
client blocks). Wrong parameters answer 400 naming the parameter, an unknown issue 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, patch, post
from litestar.exceptions import NotFoundException, ValidationException

from app.auth import require_site_token
from app.query.params import Query, QueryError, parse_query
from app.runtime import Runtime
from app.triage.issues import (
    SORTS,
    STATUSES,
    IssueNotFound,
    IssueQuery,
    change_issue,
    issue_detail,
    list_issues,
)
from app.triage.lifecycle import Action
from app.triage.sourcemaps import MAX_MAP_BYTES, SourceMapError, store_sourcemap
from app.triage.sparks import MAX_HOURLY, SPARK_INTERVALS, with_sparks

__all__ = ["TRIAGE_ROUTES"]

SITE = "/api/v1/sites/{site:str}"
_guarded: dict[str, Any] = {"guards": [require_site_token], "tags": ["issues"]}
_action_decoder = msgspec.json.Decoder(Action)
_OWN_PARAMS = ("status", "q", "sort", "limit", "offset")


def _issue_query(
    request: Request[Any, Any, Any],
    site: str,
    *,
    default_period: str,
    more: tuple[str, ...] = (),
) -> tuple[IssueQuery, Query]:
    params = {key: request.query_params.getall(key) for key in request.query_params}
    try:
        base = parse_query(site, params, allowed=_OWN_PARAMS + more, default_period=default_period)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None
    if base.filters:
        raise ValidationException(
            f"{base.filters[0].dimension}: issues are not filtered by dimension; "
            "the detail breaks an issue down by browser, os, page and release"
        )
    statuses = tuple(
        s for raw in params.get("status", ["unresolved,regressed"]) for s in raw.split(",") if s
    )
    for status in statuses:
        if status not in STATUSES:
            raise ValidationException(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    sort = (params.get("sort") or ["last_seen"])[-1]
    if sort not in SORTS:
        raise ValidationException(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
    q = (params.get("q") or [""])[-1].strip()
    if len(q) > 200:
        raise ValidationException("q: at most 200 characters")
    issue_query = IssueQuery(
        site=site,
        start=base.start,
        end=base.end,
        statuses=statuses or ("unresolved", "regressed"),
        q=q,
        sort=sort,
        limit=base.limit,
        offset=base.offset,
    )
    return issue_query, base


@get(SITE + "/issues", summary="Error issues in the period", **_guarded)
async def issues_list(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    query, base = _issue_query(request, site, default_period="30d", more=("spark",))
    spark = request.query_params.get("spark")
    if spark is not None and spark not in SPARK_INTERVALS:
        raise ValidationException(f"spark: {spark!r} is not one of {', '.join(SPARK_INTERVALS)}")
    if spark == "hour" and base.end - base.start > MAX_HOURLY:
        raise ValidationException("spark: hourly sparklines are for periods of 7 days at most")

    def run() -> dict[str, Any]:
        listing = list_issues(runtime.store, query)
        if spark is None:
            return listing
        return with_sparks(runtime.store, msgspec.structs.replace(base, interval=spark), listing)

    return Response(await anyio.to_thread.run_sync(run))


@get(SITE + "/issues/{issue_id:str}", summary="One issue: stack, counts, events", **_guarded)
async def issue_get(request: Request[Any, Any, Any], site: str, issue_id: str) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    query, _ = _issue_query(request, site, default_period="30d")
    try:
        detail = await anyio.to_thread.run_sync(issue_detail, runtime.store, query, issue_id)
    except IssueNotFound:
        raise NotFoundException(f"no issue {issue_id!r} on this site") from None
    return Response(detail)


@patch(
    SITE + "/issues/{issue_id:str}", summary="Resolve, ignore, reopen, assign, comment", **_guarded
)
async def issue_patch(request: Request[Any, Any, Any], site: str, issue_id: str) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    body = await request.body()
    try:
        action = _action_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ValidationException(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(f"the body is not JSON: {exc}") from None
    try:
        result = await anyio.to_thread.run_sync(change_issue, runtime.store, site, issue_id, action)
    except IssueNotFound:
        raise NotFoundException(f"no issue {issue_id!r} on this site") from None
    return Response(result)


@post(
    SITE + "/sourcemaps",
    summary="Upload a source map for a release and minified file",
    request_max_body_size=MAX_MAP_BYTES,
    status_code=201,
    opt={"share": False},
    **_guarded,
)
async def sourcemap_upload(
    request: Request[Any, Any, Any], site: str, release: str = "", file: str = ""
) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    body = await request.body()
    now = dt.datetime.now(dt.UTC)
    try:
        result = await anyio.to_thread.run_sync(
            lambda: store_sourcemap(runtime.store, site, release, file, body, now=now)
        )
    except SourceMapError as exc:
        raise ValidationException(str(exc)) from None
    return Response(msgspec.to_builtins(result), status_code=201)


TRIAGE_ROUTES = [issues_list, issue_get, issue_patch, sourcemap_upload]
