"""Generated hourly traffic for the anomaly-quality test (must-show 4).

Page views per hour with what real traffic has: a daily shape (nights at a sixth of the
afternoon peak), weekends at 60 % of weekdays, Poisson noise with 8 % extra spread from
day to day (log-normal), a past incident (an outage: 4 hours at 20 % three weeks earlier,
at the same hours of the week as a later injected drop), and, in the weeks under test,
injected drops (to 30 %) and spikes (to 250 %) of one to three hours at random times.
`python -m tests.alerts.series` prints the figures the README quotes (20 series of four
weeks under test after eight weeks of history, for several z thresholds).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import msgspec

from app.alerts.anomaly import HOURS_PER_WEEK, score_last

__all__ = ["Generated", "Quality", "evaluate", "generate", "quality"]

PEAK = 300.0
WEEKS_OF_HISTORY = 8
Z = 4.5


class Generated(msgspec.Struct):
    values: list[float]
    #: Hour indexes of the injected anomalies (in the weeks under test).
    injected: set[int]
    #: First hour under test (everything before is history).
    test_from: int


class Quality(msgspec.Struct):
    hours: int
    injected: int
    alerts: int
    true_positives: int
    precision: float
    recall: float


def expected(hour: int) -> float:
    hour_of_day = hour % 24
    day_of_week = (hour // 24) % 7
    daily = 0.15 + 0.85 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour_of_day - 3) / 24)) ** 1.5
    weekend = 0.6 if day_of_week >= 5 else 1.0
    return PEAK * daily * weekend


def _poisson(rng: random.Random, mean: float) -> float:
    if mean > 50:  # normal approximation, fine at these counts
        return max(0.0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return float(k)


def generate(
    seed: int, *, test_weeks: int, anomalies_per_week: int, incident: bool = True
) -> Generated:
    rng = random.Random(seed)
    hours = (WEEKS_OF_HISTORY + test_weeks) * HOURS_PER_WEEK
    test_from = WEEKS_OF_HISTORY * HOURS_PER_WEEK
    factor = [1.0] * hours
    injected: set[int] = set()
    for week in range(test_weeks):
        for _ in range(anomalies_per_week):
            start = test_from + week * HOURS_PER_WEEK + rng.randrange(HOURS_PER_WEEK - 3)
            length = rng.randint(1, 3)
            scale = 0.3 if rng.random() < 0.5 else 2.5
            for hour in range(start, start + length):
                factor[hour] = scale
                injected.add(hour)
    if incident and injected:
        # An outage in an earlier week at the same hours as the first injected anomaly.
        first = min(injected)
        for hour in range(first - 3 * HOURS_PER_WEEK, first - 3 * HOURS_PER_WEEK + 4):
            factor[hour] = 0.2
    values = []
    for hour in range(hours):
        mean = expected(hour) * factor[hour] * math.exp(rng.gauss(0, 0.08))
        values.append(_poisson(rng, mean))
    return Generated(values, injected, test_from)


def alerts_of(generated: Generated, z: float = Z) -> Iterator[int]:
    values = generated.values
    for hour in range(generated.test_from, len(values)):
        score = score_last(values[: hour + 1], weeks=WEEKS_OF_HISTORY, metric="pageviews")
        if score is not None and abs(score.z) >= z:
            yield hour


def evaluate(generated: Generated, z: float = Z) -> Quality:
    alerts = set(alerts_of(generated, z))
    hits = len(alerts & generated.injected)
    return Quality(
        hours=len(generated.values) - generated.test_from,
        injected=len(generated.injected),
        alerts=len(alerts),
        true_positives=hits,
        precision=hits / len(alerts) if alerts else 1.0,
        recall=hits / len(generated.injected) if generated.injected else 1.0,
    )


def quality(seeds: range = range(20), z: float = Z) -> tuple[Quality, Quality]:
    """(series with anomalies, clean series) over `seeds`, summed."""

    def total(runs: list[Quality]) -> Quality:
        alerts = sum(q.alerts for q in runs)
        hits = sum(q.true_positives for q in runs)
        injected = sum(q.injected for q in runs)
        return Quality(
            hours=sum(q.hours for q in runs),
            injected=injected,
            alerts=alerts,
            true_positives=hits,
            precision=hits / alerts if alerts else 1.0,
            recall=hits / injected if injected else 1.0,
        )

    dirty = [evaluate(generate(s, test_weeks=4, anomalies_per_week=6), z) for s in seeds]
    clean = [evaluate(generate(1000 + s, test_weeks=4, anomalies_per_week=0), z) for s in seeds]
    return total(dirty), total(clean)


if __name__ == "__main__":
    for threshold in (3.5, 4.0, 4.5, 5.0):
        with_anomalies, clean = quality(z=threshold)
        clean_series = [
            evaluate(generate(1000 + s, test_weeks=4, anomalies_per_week=0), threshold).alerts
            for s in range(20)
        ]
        print(
            f"z {threshold}: precision {with_anomalies.precision:.3f} recall "
            f"{with_anomalies.recall:.3f} ({with_anomalies.true_positives} of "
            f"{with_anomalies.injected} anomalous hours, {with_anomalies.alerts} alerts); "
            f"clean: {clean.alerts} alerts in {clean.hours} hours, "
            f"{sum(a == 0 for a in clean_series)} of 20 four-week series without any"
        )
