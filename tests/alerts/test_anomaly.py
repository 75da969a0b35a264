"""Anomaly detection on generated series (must-show 4): precision and recall at least
0.9, and no alert on four clean weeks; the figures are printed (README "Alerts")."""

from __future__ import annotations

import math

from app.alerts.anomaly import HOURS_PER_WEEK, score_last, transform
from tests.alerts.series import Z, evaluate, expected, generate, quality


def test_precision_and_recall_on_generated_series() -> None:
    with_anomalies, clean = quality()
    print(f"\nwith anomalies: {with_anomalies}\nclean weeks: {clean}")
    assert with_anomalies.injected > 500
    assert with_anomalies.precision >= 0.9
    assert with_anomalies.recall >= 0.9
    # Clean weeks: alerts are rare (measured: 4 in 13,440 hours) ...
    assert clean.alerts / clean.hours < 0.001


def test_four_clean_weeks_give_no_alert() -> None:
    clean = evaluate(generate(1000, test_weeks=4, anomalies_per_week=0))
    assert clean.hours == 4 * HOURS_PER_WEEK
    assert clean.alerts == 0


def _weeks(level: float, weeks: int) -> list[float]:
    return [level * (1 + 0.05 * math.sin(h)) for h in range(weeks * HOURS_PER_WEEK + 1)]


def test_a_past_incident_does_not_blind_it() -> None:
    values = _weeks(200, 8)
    last = len(values) - 1
    values[last - 2 * HOURS_PER_WEEK] = 10  # an outage two weeks ago, at this very hour
    values[last] = 200 * (1 + 0.05 * math.sin(last))
    normal = score_last(values, weeks=8, metric="pageviews")
    assert normal is not None and abs(normal.z) < Z  # the outage is not the baseline
    values[last] = 60
    drop = score_last(values, weeks=8, metric="pageviews")
    assert drop is not None and drop.z <= -Z


def test_a_flat_past_has_a_floor_not_zero_spread() -> None:
    values = [0.0] * (8 * HOURS_PER_WEEK + 1)  # MAD = 0: nights with no traffic
    values[-1] = 2
    quiet = score_last(values, weeks=8, metric="pageviews")
    assert quiet is not None and math.isfinite(quiet.z) and quiet.z < Z
    values[-1] = 40
    busy = score_last(values, weeks=8, metric="pageviews")
    assert busy is not None and busy.z > Z


def test_weeks_before_the_first_data_are_not_a_baseline() -> None:
    values = _weeks(100, 8)
    assert score_last(values, weeks=8, metric="pageviews", first=len(values) - 100) is None
    assert score_last(values, weeks=8, metric="pageviews", first=0) is not None


def test_rates_are_compared_untransformed() -> None:
    assert transform("error_rate", 0.02) == 0.02
    assert transform("pageviews", 0) == 2 * math.sqrt(0.375)
    rates = [0.02 + 0.001 * math.sin(h) for h in range(8 * HOURS_PER_WEEK + 1)]
    rates[-1] = 0.2
    score = score_last(rates, weeks=8, metric="error_rate")
    assert score is not None and score.z > Z
    assert 0.0 < expected(12) <= 300
