"""Anomaly detection: a robust z-score against the same hour of the week in earlier weeks.

For the last whole hour h, with `b` its values in the same hour of the week in each of
the previous N weeks (hourly buckets of the query API's `timeseries`):

    z = (t(x) - median(t(b))) / (sqrt(1 + pi / 2n) * max(1.4826 * MAD' / 0.9, floor))

- Median and MAD (median absolute deviation; times 1.4826 it estimates a standard
  deviation for normal noise) rather than mean and standard deviation, so one past
  incident in `b` moves neither (with eight weeks, up to three may be incidents). Weekly
  seasonality (nights, weekends) is handled by comparing like hours with like hours.
- Counts (visitors, page views) are compared after Anscombe's transform
  t(x) = 2 sqrt(x + 3/8), under which Poisson noise has unit spread at any level: a
  drop at night (45 page views to 13) and one in the afternoon are judged alike, and
  the floor of the spread is that Poisson noise (1). Rates are compared as they are,
  with a floor of 5 % of their median, at least 0.005.
- MAD' pools the deviations of the hours h-3 … h+3 of the same weeks, each from its own
  hour's median: six values alone give a spread so uncertain that a lucky-quiet past
  made every wobble an anomaly. Deviations from a median of few values are smaller than
  from the true level (the / 0.9), and the median itself is uncertain (the
  sqrt(1 + pi / 2n) factor: the variance of a median of n values is pi sigma^2 / 2n).

Measured on generated series (`tests/alerts/series.py`, README "Alerts"). Limits: hours
are UTC hours (a site whose traffic follows a local clock with daylight saving time
compares hours shifted by one for the weeks around the change); weeks before the site's
first data are left out, and fewer than `MIN_WEEKS` usable weeks decide nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import msgspec

__all__ = [
    "COUNT_METRICS",
    "HOURS_PER_WEEK",
    "MAD_SCALE",
    "MIN_WEEKS",
    "Score",
    "baseline_of",
    "scale_floor",
    "score_last",
    "transform",
]

MAD_SCALE = 1.4826
#: Deviations from the median of a few values underestimate the spread by about this.
SMALL_SAMPLE = 0.9
#: Neighbouring hours (each side) whose deviations are pooled for the spread.
SPAN = 3
MIN_WEEKS = 3
HOURS_PER_WEEK = 168
COUNT_METRICS = frozenset({"visitors", "pageviews", "sessions"})


class Score(msgspec.Struct, frozen=True):
    z: float
    #: The median of the baseline, in the metric's own unit.
    median: float
    weeks: int


def transform(metric: str, value: float) -> float:
    """Anscombe's transform for counts (unit Poisson spread); rates as they are."""
    if metric in COUNT_METRICS:
        return 2.0 * math.sqrt(max(value, 0.0) + 0.375)
    return value


def scale_floor(metric: str, median: float) -> float:
    """The smallest spread a baseline may have, in transformed units."""
    if metric in COUNT_METRICS:
        return 1.0
    return max(0.005, 0.05 * abs(median))


def baseline_of(
    values: Sequence[float], *, weeks: int, first: int = 0, at: int = -1
) -> list[float]:
    """The values one, two, … `weeks` weeks before index `at` (default: the last),
    leaving out indexes before `first` (hours before the site's first data)."""
    last = len(values) - 1 if at < 0 else at
    found = []
    for k in range(1, weeks + 1):
        index = last - k * HOURS_PER_WEEK
        if index >= first and index >= 0:
            found.append(float(values[index]))
    return found


def score_last(values: Sequence[float], *, weeks: int, metric: str, first: int = 0) -> Score | None:
    """The robust z-score of the last value of an hourly series; None with fewer than
    `MIN_WEEKS` weeks of baseline."""
    last = len(values) - 1
    raw = baseline_of(values, weeks=weeks, first=first)
    if len(raw) < MIN_WEEKS:
        return None
    base = [transform(metric, v) for v in raw]
    center = statistics.median(base)
    deviations: list[float] = []
    for offset in range(-SPAN, SPAN + 1):
        earlier = baseline_of(values, weeks=weeks, first=first, at=last + offset)
        near = [transform(metric, v) for v in earlier]
        if len(near) >= MIN_WEEKS:
            middle = statistics.median(near)
            deviations += [v - middle for v in near]
    spread = MAD_SCALE * statistics.median(abs(d) for d in deviations) / SMALL_SAMPLE
    n = len(base)
    scale = math.sqrt(1 + math.pi / (2 * n)) * max(spread, scale_floor(metric, center))
    return Score((transform(metric, values[-1]) - center) / scale, statistics.median(raw), n)
