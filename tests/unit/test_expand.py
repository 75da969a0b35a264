"""Expanding a batch into rows: each event keeps its own place in the session."""

from __future__ import annotations

import msgspec

from app.ingest.expand import PageCache, expand_events
from app.ingest.schema import decode_batch
from app.ingest.useragent import UserAgentInfo
from app.ingest.visitor import SessionState

MIN = 60_000
AGENT = UserAgentInfo("Chrome", "131", "Windows", "10", "desktop", is_bot=False)


def test_a_gap_inside_one_batch_starts_a_new_session_for_the_events_after_it() -> None:
    t0 = 1_796_000_000_000
    batch = decode_batch(
        msgspec.json.encode(
            {
                "site": "s_x",
                "sid": "sid",
                "sent_at": t0 + 45 * MIN,
                "events": [
                    {"t": "pageview", "ts": t0, "pid": "p", "url": "https://a.test/x"},
                    {"t": "click", "ts": t0 + MIN, "pid": "p", "target": "a"},
                    # 40 minutes idle on the same page view: a new session
                    {"t": "click", "ts": t0 + 41 * MIN, "pid": "p", "target": "b"},
                    {"t": "scroll", "ts": t0 + 42 * MIN, "pid": "p", "depth": 80},
                ],
            }
        )
    )
    session = SessionState(visitor_id=7, seq=0, start_ms=t0, last_ms=t0, seen_ms=t0)
    rows, stale = expand_events(
        batch,
        agent=AGENT,
        country="",
        session=session,
        computed_visitor=9,
        skew_ms=0,
        received_at_ms=t0 + 45 * MIN,
        max_age_ms=72 * 3_600_000,
        pages=PageCache(),
    )
    assert stale == 0
    placed = [(r.type, r.target, r.session_seq, r.session_start, r.visitor_id) for r in rows]
    assert placed == [
        ("pageview", "", 0, t0 / 1000, 7),
        ("click", "a", 0, t0 / 1000, 7),
        ("click", "b", 1, (t0 + 41 * MIN) / 1000, 9),
        ("scroll", "", 1, (t0 + 41 * MIN) / 1000, 9),
    ]
    assert {r.path for r in rows} == {"/x"}  # the page is carried across the split
