"""`beacon demo --tz`: its traffic straddles a local midnight whatever the time of day it
runs (the overview test checks both local days hold sessions)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app.bench.demo import _window

HOUR_MS = 3_600_000


@pytest.mark.parametrize("zone_name", ["Asia/Kathmandu", "UTC", "America/St_Johns"])
def test_window_is_centred_on_a_past_local_midnight_at_any_time(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    midnight = dt.datetime(2026, 12, 8, tzinfo=zone)
    # Every 10 minutes of a local day, from just before one midnight to past the next;
    # 25 minutes after midnight is when the window used to end early (a CI failure).
    for minutes in range(-30, 25 * 60, 10):
        now_ms = int((midnight + dt.timedelta(minutes=minutes)).timestamp() * 1000)
        start_ms, end_ms = _window(now_ms, 6, zone)
        assert end_ms - start_ms == 6 * HOUR_MS
        assert end_ms <= now_ms - 60_000, minutes  # nothing sent from the future
        middle = dt.datetime.fromtimestamp((start_ms + 3 * HOUR_MS) / 1000, zone)
        assert middle.time() == dt.time(0), minutes  # a local midnight in the middle
        # Sessions start up to an hour before the end (`generate`): on both sides of it.
        assert start_ms < middle.timestamp() * 1000 < end_ms - HOUR_MS, minutes


def test_window_without_a_zone_is_the_last_hours() -> None:
    assert _window(10 * HOUR_MS, 6, None) == (4 * HOUR_MS - 60_000, 10 * HOUR_MS - 60_000)
