"""Percentile maths of the benchmarks: nearest-rank percentiles, medians of timed runs,
and latency summaries per time window.

Nearest rank (the smallest value with at least p % of the samples at or below it) is
what wrk and HdrHistogram report, and needs no interpolation between two answers.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

__all__ = ["LatencySummary", "median_ms", "percentile", "summarize", "windows"]

#: The percentiles every latency summary reports.
POINTS = (50.0, 90.0, 99.0, 99.9)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile `p` (0-100] of already sorted values; 0 when empty."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


class LatencySummary(msgspec.Struct):
    """Latency of the requests answered in one window (or the whole run), in ms."""

    start_s: float
    seconds: float
    requests: int
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


def summarize(latencies_ms: Sequence[float], start_s: float, seconds: float) -> LatencySummary:
    ordered = sorted(latencies_ms)
    p50, p90, p99, p999 = (round(percentile(ordered, p), 2) for p in POINTS)
    return LatencySummary(
        start_s=start_s,
        seconds=seconds,
        requests=len(ordered),
        requests_per_second=round(len(ordered) / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        p999_ms=p999,
        max_ms=round(ordered[-1], 2) if ordered else 0.0,
    )


def windows(
    samples: Sequence[tuple[float, float]], total_seconds: float, width: float = 10.0
) -> list[LatencySummary]:
    """Summaries per `width`-second window of (second the request was due, latency ms)."""
    count = max(1, math.ceil(total_seconds / width - 1e-9))
    buckets: list[list[float]] = [[] for _ in range(count)]
    for due_s, latency in samples:
        buckets[min(int(due_s // width), count - 1)].append(latency)
    return [
        summarize(bucket, index * width, min(width, total_seconds - index * width))
        for index, bucket in enumerate(buckets)
    ]


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `repeat` runs after one warm-up run (caches warm, as in use)."""
    run()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(samples), 1)
