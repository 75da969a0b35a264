"""Trends (DESIGN §8): `GET /api/v1/sites/{site}/trends?metric=…&period=…`.

The series is the query API's own (`app.query.metrics.timeseries`, any of its metrics,
`interval=day` unless asked otherwise, with the same period, time zone and filters). On
it, from SciPy (no hand-rolled statistics):
- the **Mann-Kendall** test — Kendall's τ between time and value (`scipy.stats.kendalltau`),
  whose p-value says whether the series moves one way more than chance would;
- the **Theil-Sen** slope — the median of the pairwise slopes, with its 95 % confidence
  interval (`scipy.stats.theilslopes`), per day whatever the interval;
- **direction**: `increasing` / `decreasing` when Mann-Kendall's p < 0.05 and the slope's
  interval excludes zero; otherwise `volatile` when the values scatter around the
  Theil-Sen line by more than a quarter of their median (robust spread, 1.4826 · MAD),
  else `stable`;
- **anomalies**: buckets whose distance from the line is a robust z-score of 3.5 or more
  (median/MAD of the residuals, at least Poisson noise for counts, 5 % of the level).

Limits: at least `MIN_POINTS` buckets; the current, unfinished bucket is part of the
series like in the API (ask for a period that ends now to include it, or up to the last
whole day to leave it out).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get
from litestar.exceptions import ValidationException
from scipy import stats

from app.alerts.anomaly import COUNT_METRICS, MAD_SCALE
from app.auth import require_site_token
from app.query import metrics as query_metrics
from app.query.params import Query, QueryError, parse_query
from app.query.sql import METRICS
from app.store.client import Store

__all__ = ["MIN_POINTS", "trend", "trend_of", "trends"]

MIN_POINTS = 5
ALPHA = 0.05
ANOMALY_Z = 3.5
VOLATILE_SPREAD = 0.25
_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0}


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _floor(metric: str, level: float) -> float:
    """The least spread of residuals: Poisson noise for counts, 5 % of the level."""
    poisson = math.sqrt(max(level, 0.0)) if metric in COUNT_METRICS else 0.005
    return max(poisson, 0.05 * abs(level), 1e-9)


def trend_of(
    values: list[float], labels: list[str], *, step_days: float, metric: str
) -> dict[str, Any]:
    """Direction, slope per day with its 95 % interval, and anomalies of a series."""
    if len(values) < MIN_POINTS:
        raise ValueError(f"at least {MIN_POINTS} points are needed for a trend")
    x = [i * step_days for i in range(len(values))]
    slope, intercept, low, high = stats.theilslopes(values, x, alpha=1 - ALPHA)
    if len(set(values)) > 1:
        tau_result = stats.kendalltau(x, values)
        tau, p_value = float(tau_result.statistic), float(tau_result.pvalue)
    else:
        tau, p_value = 0.0, 1.0
    residuals = [v - (intercept + slope * t) for v, t in zip(values, x, strict=True)]
    center = statistics.median(residuals)
    mad = statistics.median(abs(r - center) for r in residuals)
    level = statistics.median(values)
    spread = MAD_SCALE * mad
    scale = max(spread, _floor(metric, level))
    significant = math.isfinite(p_value) and p_value < ALPHA and (low > 0 or high < 0)
    if significant:
        direction = "increasing" if slope > 0 else "decreasing"
    elif spread > VOLATILE_SPREAD * max(abs(level), 1e-9):
        direction = "volatile"
    else:
        direction = "stable"
    anomalies = [
        {
            "date": label,
            "value": value,
            "expected": round(intercept + slope * t + center, 6),
            "z": round((r - center) / scale, 3),
        }
        for label, value, t, r in zip(labels, values, x, residuals, strict=True)
        if abs(r - center) / scale >= ANOMALY_Z
    ]
    return {
        "direction": direction,
        "slope_per_day": _finite(round(float(slope), 6)),
        "slope_ci": [_finite(round(float(low), 6)), _finite(round(float(high), 6))],
        "confidence": 1 - ALPHA,
        "mann_kendall": {"tau": round(tau, 4), "p_value": round(p_value, 6)},
        "anomalies": anomalies,
    }


def trend(store: Store, query: Query) -> dict[str, Any]:
    if len(query.metrics) != 1:
        raise QueryError(f"metric: give one of {', '.join(METRICS)}")
    metric = query.metrics[0]
    if metric not in METRICS:
        raise QueryError(f"metric: {metric!r} is not one of {', '.join(METRICS)}")
    series = query_metrics.timeseries(store, query)["results"]
    values = [float(point[metric]) for point in series]
    labels = [point["date"] for point in series]
    try:
        result = trend_of(values, labels, step_days=_DAYS[query.interval], metric=metric)
    except ValueError as exc:
        raise QueryError(
            f"period: {exc} (this period has {len(values)} {query.interval}s)"
        ) from None
    return {
        "metric": metric,
        "interval": query.interval,
        "tz": query.tz,
        "points": len(values),
        **result,
        "series": series,
    }


@get(
    "/api/v1/sites/{site:str}/trends",
    summary="Direction, slope per day and anomalies of a metric",
    guards=[require_site_token],
    tags=["alerts"],
)
async def trends(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    runtime = request.app.state.runtime
    params = {key: request.query_params.getall(key) for key in request.query_params}
    try:
        query = parse_query(site, params, allowed=("metric", "interval"), default_period="30d")
        if "metric" not in params:
            raise QueryError(f"metric: give one of {', '.join(METRICS)}")
        result = await anyio.to_thread.run_sync(trend, runtime.store, query)
    except QueryError as exc:
        raise ValidationException(str(exc)) from None
    return Response(result)
