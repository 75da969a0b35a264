"""Query parameters of the analytics API, parsed and checked into one `Query`.

Common to every endpoint: a period (`from`/`to` as ISO 8601 dates or date-times, or a
named `period`), a time zone (`tz`, IANA name), filters (one parameter per dimension,
e.g. `country=GB,DE` or `page=/blog/*`, repeatable), `compare=previous`, and per
endpoint `interval`, `metric`, `by`, `limit`, `offset`. Unknown parameters, unknown
dimensions, bad time zones and absurd ranges are refused with a message that names the
parameter. Nothing here builds SQL: values travel as bound parameters (`app/query/sql.py`)
and dimension names map to columns through a fixed table (`DIMENSIONS`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

import msgspec

from app.query.period import MAX_SPAN, PeriodError, parse_instant, parse_timezone

__all__ = [
    "DIMENSIONS",
    "INTERVALS",
    "NAMED_PERIODS",
    "Filter",
    "Query",
    "QueryError",
    "parse_query",
]


class QueryError(ValueError):
    """A parameter is wrong; the message names it."""


class Dimension(msgspec.Struct, frozen=True):
    #: Column in `events`.
    event_column: str
    #: Expression over the per-session aggregate (`app/query/sql.py`), or "" when the
    #: dimension belongs to page views and filters sessions through their page views.
    session_column: str


DIMENSIONS: dict[str, Dimension] = {
    "page": Dimension("path", ""),
    "route": Dimension("route", ""),
    "entry_page": Dimension("", "entry_page"),
    "exit_page": Dimension("", "exit_page"),
    "referrer": Dimension("referrer_domain", "referrer"),
    "source": Dimension("referrer_source", "source"),
    "utm_source": Dimension("utm_source", "utm_source"),
    "utm_medium": Dimension("utm_medium", "utm_medium"),
    "utm_campaign": Dimension("utm_campaign", "utm_campaign"),
    "country": Dimension("country", "country"),
    "device": Dimension("device", "device"),
    "browser": Dimension("browser", "browser"),
    "os": Dimension("os", "os"),
}

INTERVALS = ("minute", "hour", "day", "week")
NAMED_PERIODS = (
    "today",
    "yesterday",
    "24h",
    "7d",
    "30d",
    "90d",
    "month",
    "last_month",
    "12mo",
    "realtime",
)
_COMMON = {"from", "to", "period", "tz", "compare"}
MAX_FILTER_VALUES = 50
MAX_VALUE_LENGTH = 512


class Filter(msgspec.Struct, frozen=True):
    dimension: str
    values: tuple[str, ...]
    #: Values ending in `*` match as prefixes.
    prefixes: tuple[str, ...] = ()
    negate: bool = False


class Query(msgspec.Struct, frozen=True, kw_only=True):
    site: str
    start: dt.datetime
    end: dt.datetime
    tz: str
    filters: tuple[Filter, ...] = ()
    compare: bool = False
    interval: str = "day"
    metrics: tuple[str, ...] = ()
    by: str = ""
    limit: int = 100
    offset: int = 0
    #: Several sites at once (instead of `site`), answered per site: for internal callers
    #: that ask one question of many sites (the alert evaluator); never from a request.
    sites: tuple[str, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def previous(self) -> Query:
        """The period of equal length just before this one."""
        length = self.end - self.start
        return msgspec.structs.replace(self, start=self.start - length, end=self.start)


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(f"{name}: give it once")
    return values[0]


def _named_period(name: str, zone: ZoneInfo, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(zone)
    midnight = dt.datetime(local.year, local.month, local.day, tzinfo=zone)
    tomorrow = midnight + dt.timedelta(days=1)
    if name == "today":
        return midnight, tomorrow
    if name == "yesterday":
        return midnight - dt.timedelta(days=1), midnight
    if name == "realtime":
        return now - dt.timedelta(minutes=5), now + dt.timedelta(seconds=1)
    if name == "24h":
        return now - dt.timedelta(hours=24), now + dt.timedelta(seconds=1)
    if name in ("7d", "30d", "90d"):
        return tomorrow - dt.timedelta(days=int(name[:-1])), tomorrow
    first = midnight.replace(day=1)
    if name == "month":
        next_month = (first + dt.timedelta(days=32)).replace(day=1)
        return first, next_month
    if name == "last_month":
        return (first - dt.timedelta(days=1)).replace(day=1), first
    # 12mo: the last twelve calendar months, this one included.
    start = first
    for _ in range(11):
        start = (start - dt.timedelta(days=1)).replace(day=1)
    return start, (first + dt.timedelta(days=32)).replace(day=1)


def _filters(params: Mapping[str, Sequence[str]]) -> tuple[Filter, ...]:
    filters = []
    for raw_name, raw_values in params.items():
        negate = raw_name.endswith("!")
        name = raw_name.rstrip("!")
        if name not in DIMENSIONS:
            continue
        values: list[str] = []
        for raw in raw_values:
            values.extend(v for v in raw.split(",") if v != "" or raw == "")
        if not values or len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"{name}: give 1 to {MAX_FILTER_VALUES} comma-separated values")
        for value in values:
            if len(value) > MAX_VALUE_LENGTH or any(ord(c) < 32 for c in value):
                raise QueryError(f"{name}: a value is too long or has control characters")
        exact = tuple(v for v in values if not v.endswith("*"))
        prefixes = tuple(v[:-1] for v in values if v.endswith("*"))
        filters.append(Filter(name, exact, prefixes, negate))
    return tuple(sorted(filters, key=lambda f: (f.dimension, f.negate)))


def parse_query(
    site: str,
    params: Mapping[str, Sequence[str]],
    *,
    allowed: Sequence[str] = (),
    default_period: str = "30d",
    now: dt.datetime | None = None,
) -> Query:
    """A `Query` from raw query parameters; `allowed` names the endpoint's own ones."""
    known = _COMMON | set(allowed) | set(DIMENSIONS) | {d + "!" for d in DIMENSIONS}
    unknown = sorted(set(params) - known)
    if unknown:
        raise QueryError(
            f"{unknown[0]}: unknown parameter; this endpoint takes "
            f"{', '.join(sorted(_COMMON | set(allowed)))} and the filters "
            f"{', '.join(DIMENSIONS)}"
        )
    now = now or dt.datetime.now(dt.UTC)
    try:
        zone = parse_timezone(_one(params, "tz"))
        start_text, end_text, period = (
            _one(params, "from"),
            _one(params, "to"),
            _one(params, "period"),
        )
        if start_text or end_text:
            if period:
                raise QueryError("period: give either period or from/to")
            if not (start_text and end_text):
                raise QueryError("from/to: give both")
            start = parse_instant("from", start_text, zone)
            end = parse_instant("to", end_text, zone, last_day=True)
        else:
            period = period or default_period
            if period not in NAMED_PERIODS:
                raise QueryError(f"period: {period!r} is not one of {', '.join(NAMED_PERIODS)}")
            start, end = _named_period(period, zone, now)
    except PeriodError as exc:
        raise QueryError(str(exc)) from None
    if start >= end:
        raise QueryError("from/to: from must be before to")
    if end - start > MAX_SPAN:
        raise QueryError(f"from/to: the period is longer than {MAX_SPAN.days} days")
    compare = _one(params, "compare")
    if compare not in (None, "previous", "false"):
        raise QueryError("compare: the only comparison is 'previous'")
    interval = _one(params, "interval") or "day"
    if interval not in INTERVALS:
        raise QueryError(f"interval: {interval!r} is not one of {', '.join(INTERVALS)}")
    if interval == "minute" and end - start > dt.timedelta(days=2):
        raise QueryError("interval: minute buckets are for periods of 2 days at most")
    by = _one(params, "by") or ""
    limit_text = _one(params, "limit") or "100"
    offset_text = _one(params, "offset") or "0"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 10_000:
        raise QueryError("limit: a whole number from 1 to 10000")
    if not offset_text.isdigit() or int(offset_text) > 1_000_000:
        raise QueryError("offset: a whole number from 0 to 1000000")
    metrics = tuple(m for raw in params.get("metric", ()) for m in raw.split(",") if m)
    return Query(
        site=site,
        start=start,
        end=end,
        tz=zone.key,
        filters=_filters(params),
        compare=compare == "previous",
        interval=interval,
        metrics=metrics,
        by=by,
        limit=int(limit_text),
        offset=int(offset_text),
    )
