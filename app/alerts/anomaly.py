"""Anomaly detection: a robust z-score against the same hour of the week in earlier weeks.

    z = (x - median(b)) / max(1.4826 · MAD(b), floor)

where `b` holds the metric's value in the same hour of the week in each of the previous
N weeks (hourly buckets of the query API's `timeseries`). Median and MAD (median absolute
deviation; x 1.4826 it estimates a standard deviation for normal noise) rather than mean
and standard deviation, so that one past incident in `b` moves neither: with six weeks,
up to two may be incidents. Weekly seasonality (nights, weekends) is handled by comparing
like hours with like hours.

The floor keeps a quiet baseline from turning small wobbles into huge scores (MAD = 0
when the past weeks happened to agree, e.g. all zero at night): for counts it is the
Poisson noise of the median (√median, at least 1) or 5 % of it, whichever is larger; for
rates 5 % of the median, at least 0.005.

Limits: hours are UTC hours (a site whose traffic follows a local clock with daylight
saving time compares hours shifted by one for the weeks around the change); weeks
before the site's first data are left out, and fewer than `MIN_WEEKS` usable weeks
decide nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import msgspec

__all__ = [
    "COUNT_METRICS",
    "MAD_SCALE",
    "MIN_WEEKS",
    "Score",
    "baseline_of",
    "robust_z",
    "scale_floor",
]

MAD_SCALE = 1.4826
MIN_WEEKS = 3
HOURS_PER_WEEK = 168
COUNT_METRICS = frozenset({"visitors", "pageviews", "sessions"})


class Score(msgspec.Struct, frozen=True):
    z: float
    median: float
    scale: float
    weeks: int


def scale_floor(metric: str, median: float) -> float:
    if metric in COUNT_METRICS:
        return max(1.0, math.sqrt(max(median, 0.0)), 0.05 * abs(median))
    return max(0.005, 0.05 * abs(median))


def robust_z(value: float, baseline: Sequence[float], *, metric: str) -> Score | None:
    """The robust z-score of `value` against `baseline`; None with too few values."""
    if len(baseline) < MIN_WEEKS:
        return None
    median = statistics.median(baseline)
    mad = statistics.median(abs(x - median) for x in baseline)
    scale = max(MAD_SCALE * mad, scale_floor(metric, median))
    return Score((value - median) / scale, median, scale, len(baseline))


def baseline_of(values: Sequence[float], *, weeks: int, first: int = 0) -> list[float]:
    """The values one, two, … `weeks` weeks before the last one, leaving out indexes
    before `first` (hours before the site's first data)."""
    last = len(values) - 1
    found = []
    for k in range(1, weeks + 1):
        index = last - k * HOURS_PER_WEEK
        if index >= first and index >= 0:
            found.append(float(values[index]))
    return found
