"""Percentile maths of the benchmarks."""

from __future__ import annotations

from app.bench.stats import percentile, summarize, windows


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 99.9) == 100.0
    assert percentile(values, 100) == 100.0
    assert percentile([4.0], 50) == 4.0
    assert percentile([], 99) == 0.0
    # p75 of four values is the third, not an interpolation
    assert percentile([1000.0, 2000.0, 3000.0, 4000.0], 75) == 3000.0


def test_summary_and_windows() -> None:
    summary = summarize([5.0, 1.0, 3.0, 2.0, 4.0], 0.0, 2.0)
    assert (summary.requests, summary.p50_ms, summary.max_ms) == (5, 3.0, 5.0)
    assert summary.requests_per_second == 2.5
    # A stall in the second window shows there only.
    samples = (
        [(s / 10, 1.0) for s in range(100)]
        + [(12.0, 900.0)]
        + [(10 + s / 10, 2.0) for s in range(100)]
    )
    first, second = windows(samples, 20.0, 10.0)
    assert (first.requests, first.max_ms, first.p99_ms) == (100, 1.0, 1.0)
    assert (second.requests, second.max_ms, second.start_s) == (101, 900.0, 10.0)
    # A last, shorter window keeps its own length (so its rate is right).
    *_, last = windows([(24.0, 1.0)], 25.0, 10.0)
    assert (last.start_s, last.seconds, last.requests_per_second) == (20.0, 5.0, 0.2)
