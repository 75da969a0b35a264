"""The stored shape of one enriched event: one row of the `events` table.

Every event type lands in one wide table (like Plausible's and PostHog's): a row has
the common columns (site, time, session, visitor, page, device, referrer) and only the
columns of its own type; the rest stay at their defaults, which ClickHouse stores almost
for free. One table means one insert per flush and one deduplication token per batch.

Rows travel as JSONEachRow lines: msgspec encodes them in C, ClickHouse parses them in
C++, and `omit_defaults` keeps empty columns off the wire. Times are float seconds
because that is how JSONEachRow reads a number into `DateTime64(3)`.
"""

from __future__ import annotations

import msgspec

__all__ = ["EVENT_COLUMNS", "EventRow", "encode_rows"]


class EventRow(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    site_id: str
    ts: float
    received_at: float
    type: str
    sid: str
    visitor_id: int
    session_seq: int = 0
    session_start: float = 0.0
    user_id: str = ""
    pid: str = ""
    # page
    url: str = ""
    host: str = ""
    path: str = ""
    route: str = ""
    query: str = ""
    title: str = ""
    nav: str = ""
    vw: int = 0
    vh: int = 0
    sw: int = 0
    sh: int = 0
    lang: str = ""
    # acquisition
    referrer: str = ""
    referrer_domain: str = ""
    referrer_source: str = ""
    referrer_name: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    # visitor context (derived server-side; never the raw IP)
    country: str = ""
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device: str = ""
    # vital / custom event
    name: str = ""
    value: float = 0.0
    rating: str = ""
    metric_id: str = ""
    target: str = ""
    attr: dict[str, str] = {}
    props: dict[str, str] = {}
    # navigation timing
    dns: float = 0.0
    tcp: float = 0.0
    tls: float = 0.0
    req: float = 0.0
    res: float = 0.0
    dom: float = 0.0
    load: float = 0.0
    transfer: int = 0
    longtasks: int = 0
    tbt: float = 0.0
    # error
    error_kind: str = ""
    error_type: str = ""
    message: str = ""
    stack: str = ""
    file: str = ""
    line: int = 0
    col: int = 0
    release: str = ""
    method: str = ""
    req_url: str = ""
    status: int = 0
    duration: float = 0.0
    fingerprint: str = ""
    culprit: str = ""
    # interactions
    text: str = ""
    rage: int = 0
    scroll_depth: int = 0
    engaged_ms: int = 0


EVENT_COLUMNS: tuple[str, ...] = EventRow.__struct_fields__

_encoder = msgspec.json.Encoder()


def encode_rows(rows: list[EventRow]) -> bytes:
    """JSONEachRow body for `rows`: one JSON object per line."""
    return _encoder.encode_lines(rows)
