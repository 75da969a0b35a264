"""Where a period is cut into its closed and settled segments and its live edge, and the
one key of the numbers kept per segment (app/store/segments.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.config import Settings
from app.store.client import Store
from app.store.segments import SegmentKey, Split, split

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
HORIZON = dt.datetime(2026, 11, 17, tzinfo=dt.UTC)
NOW_HOUR = dt.datetime(2026, 11, 20, 15, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Across both cuts: all three parts, back to back.
        (
            HORIZON - 10 * D,
            NOW_HOUR + 20 * H,
            Split(
                (HORIZON - 10 * D, HORIZON), (HORIZON, NOW_HOUR), (NOW_HOUR, NOW_HOUR + 20 * H)
            ),
        ),
        # Wholly before the horizon: closed only.
        (HORIZON - 10 * D, HORIZON - D, Split((HORIZON - 10 * D, HORIZON - D), None, None)),
        # Starting after the horizon, ending before the live edge: settled only.
        (HORIZON + D, HORIZON + 2 * D, Split(None, (HORIZON + D, HORIZON + 2 * D), None)),
        # Starting in the live edge: live only.
        (NOW_HOUR + H, NOW_HOUR + 2 * H, Split(None, None, (NOW_HOUR + H, NOW_HOUR + 2 * H))),
        # Ending exactly at the horizon: nothing settled or live.
        (HORIZON - D, HORIZON, Split((HORIZON - D, HORIZON), None, None)),
    ],
)  # fmt: skip
def test_a_period_is_cut_at_the_horizon_and_the_live_edge(
    start: dt.datetime, end: dt.datetime, expected: Split
) -> None:
    assert split(start, end, HORIZON, NOW_HOUR) == expected


def test_nothing_is_closed_before_the_first_closed_day() -> None:
    start, end = HORIZON - D, NOW_HOUR + H
    assert split(start, end, None, NOW_HOUR) == Split(None, (start, NOW_HOUR), (NOW_HOUR, end))


def test_a_reader_without_a_settled_segment_cuts_once() -> None:
    start, end = HORIZON - 2 * D, HORIZON + 5 * H
    assert split(start, end, HORIZON) == Split((start, HORIZON), None, (HORIZON, end))
    assert split(start, end, None) == Split(None, None, (start, end))
    assert split(start, HORIZON - D, HORIZON) == Split((start, HORIZON - D), None, None)


def test_a_key_names_one_instant_one_way(engine_dir: Path) -> None:
    """The same bounds in another zone, or naive UTC, make the same key; another store,
    scope or guard makes another."""
    store = Store.open(Settings(data_dir=str(engine_dir), database="segments"))
    other = Store.open(Settings(data_dir=str(engine_dir), database="segments_other"))
    day = (HORIZON, HORIZON + D)
    key = SegmentKey.of(store, "site", day, ("LCP",), 3)
    kathmandu = ZoneInfo("Asia/Kathmandu")
    assert SegmentKey.of(store, "site", (day[0].astimezone(kathmandu), day[1]), ("LCP",), 3) == key
    naive = (day[0].replace(tzinfo=None), day[1].replace(tzinfo=None))
    assert SegmentKey.of(store, "site", naive, ("LCP",), 3) == key
    assert len({key, SegmentKey.of(store, "site", naive, ("LCP",), 3)}) == 1
    for different in (
        SegmentKey.of(other, "site", day, ("LCP",), 3),
        SegmentKey.of(store, "other", day, ("LCP",), 3),
        SegmentKey.of(store, "site", (HORIZON, HORIZON + 2 * D), ("LCP",), 3),
        SegmentKey.of(store, "site", day, ("INP",), 3),
        SegmentKey.of(store, "site", day, ("LCP",), 4),
    ):
        assert different != key
