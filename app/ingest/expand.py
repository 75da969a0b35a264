"""Expand a validated batch into stored rows: one `EventRow` per event.

Per event this applies the per-string normalizations (URL and referrer scrub, referrer
source, error fingerprint, text scrub), all behind caches because real traffic repeats
the same URLs, stacks and targets, and fixes the client clock.

Page context: only page views carry the URL, but vitals, errors and interactions are
reported against the same page view (`pid`) and queries want them by page. The page of
each `pid` is remembered in a bounded `PageCache`; an event may also carry its page
`url` itself (an optional protocol field) for when its page view went elsewhere.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache

from msgspec.structs import replace

from app.ingest.referrer import classify_referrer
from app.ingest.schema import (
    Batch,
    Click,
    Custom,
    Engagement,
    ErrorEvent,
    PageView,
    Scroll,
    Submit,
    Timing,
    Vital,
)
from app.ingest.templates import route_template
from app.ingest.urls import PageUrl, normalize_url, referrer_url, scrub_text
from app.ingest.useragent import UserAgentInfo
from app.ingest.visitor import SessionState
from app.store.rows import EventRow
from app.triage.fingerprint import fingerprint_error

__all__ = ["PageCache", "expand_events"]

_NO_PAGE = normalize_url("")
_scrub = lru_cache(maxsize=65_536)(scrub_text)


class PageCache:
    """pid -> normalized page URL, bounded: when full, each new page pushes out the oldest
    (an `OrderedDict`: O(1) at its front, no burst of evictions on the event loop)."""

    def __init__(self, max_pages: int = 200_000) -> None:
        self._max_pages = max_pages
        self._pages: OrderedDict[str, PageUrl] = OrderedDict()

    def remember(self, pid: str, page: PageUrl) -> None:
        pages = self._pages
        pages[pid] = page
        if len(pages) > self._max_pages:
            pages.popitem(last=False)

    def get(self, pid: str) -> PageUrl:
        return self._pages.get(pid, _NO_PAGE)


def _flat(mapping: dict[str, str | float] | dict[str, str | bool | float]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        if isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif isinstance(value, str):
            flat[key] = _scrub(value)
        else:
            flat[key] = repr(value) if value != int(value) else str(int(value))
    return flat


def expand_events(
    batch: Batch,
    *,
    agent: UserAgentInfo,
    country: str,
    session: SessionState,
    computed_visitor: int,
    skew_ms: int,
    received_at_ms: int,
    max_age_ms: int,
    pages: PageCache,
) -> tuple[list[EventRow], int]:
    """Rows for the batch's events, and how many were dropped as stale.

    Hot path: every row is a copy of a per-page base row (the batch's common columns and
    its page) with only its own columns replaced — `structs.replace` sets a handful of
    fields, where building each row from keyword arguments would set forty.
    """
    batch_row = EventRow(
        site_id=batch.site,
        ts=0.0,
        received_at=received_at_ms / 1000,
        type="",
        sid=batch.sid,
        visitor_id=session.visitor_id,
        user_id=_scrub(batch.uid) if batch.uid else "",
        country=country,
        browser=agent.browser,
        browser_version=agent.browser_version,
        os=agent.os,
        os_version=agent.os_version,
        device=agent.device,
    )
    page_rows: dict[tuple[str, str], EventRow] = {}
    rows: list[EventRow] = []
    stale = 0
    oldest_ms = received_at_ms - max_age_ms
    for event in batch.events:
        ts = event.ts - skew_ms
        if ts > received_at_ms:  # never later than the receipt (see app/ingest/clock.py)
            ts = received_at_ms
        if ts < oldest_ms:
            stale += 1
            continue
        seq, start_ms = session.place(ts, computed_visitor)
        if isinstance(event, PageView):
            page = normalize_url(event.url)
            pages.remember(event.pid, page)
            ref = referrer_url(event.referrer)
            source = classify_referrer(ref, page.host, page.utm)
            utm = page.utm
            rows.append(
                replace(
                    batch_row,
                    ts=ts / 1000,
                    type="pageview",
                    visitor_id=session.visitor_id,
                    session_seq=seq,
                    session_start=start_ms / 1000,
                    pid=event.pid,
                    url=page.url,
                    host=page.host,
                    path=page.path,
                    route=route_template(page.path),
                    query=page.query,
                    title=_scrub(event.title),
                    nav=event.nav,
                    vw=event.vw,
                    vh=event.vh,
                    sw=event.sw,
                    sh=event.sh,
                    lang=event.lang,
                    referrer=ref,
                    referrer_domain=source.domain,
                    referrer_source=source.source,
                    referrer_name=source.name,
                    utm_source=utm.source,
                    utm_medium=utm.medium,
                    utm_campaign=utm.campaign,
                    utm_term=utm.term,
                    utm_content=utm.content,
                )
            )
            continue
        key = (event.pid, event.url, session.visitor_id, seq, start_ms)
        base = page_rows.get(key)
        if base is None:
            page = normalize_url(event.url) if event.url else pages.get(event.pid)
            base = replace(
                batch_row,
                visitor_id=session.visitor_id,
                session_seq=seq,
                session_start=start_ms / 1000,
                pid=event.pid,
                url=page.url,
                host=page.host,
                path=page.path,
                route=route_template(page.path),
            )
            page_rows[key] = base
        rows.append(_ROW_BUILDERS[type(event)](base, event, ts / 1000))
    return rows, stale


# One builder per event type (other than the page view): each copies the base row of its
# page and place in the session, and sets its time and own columns in one `replace`.


def _vital_row(base: EventRow, event: Vital, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="vital",
        name=event.name,
        value=event.value,
        rating=vital_rating(event.name, event.value),
        metric_id=event.id,
        target=_scrub(event.target),
        attr=_flat(event.attr) if event.attr else {},
    )


def _click_row(base: EventRow, event: Click, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="click",
        target=_scrub(event.target),
        text=_scrub(event.text),
        rage=int(event.rage),
    )


def _submit_row(base: EventRow, event: Submit, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="submit",
        target=_scrub(event.target),
    )


def _scroll_row(base: EventRow, event: Scroll, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="scroll",
        scroll_depth=event.depth,
    )


def _engagement_row(base: EventRow, event: Engagement, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="engagement",
        engaged_ms=event.engaged_ms,
        scroll_depth=event.scroll,
    )


def _custom_row(base: EventRow, event: Custom, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="custom",
        name=event.name,
        props=_flat(event.props) if event.props else {},
    )


def _timing_row(base: EventRow, event: Timing, ts: float) -> EventRow:
    return replace(
        base,
        ts=ts,
        type="timing",
        dns=event.dns,
        tcp=event.tcp,
        tls=event.tls,
        req=event.req,
        res=event.res,
        dom=event.dom,
        load=event.load,
        transfer=event.transfer,
        longtasks=event.longtasks,
        tbt=event.tbt,
    )


def _error_row(base: EventRow, event: ErrorEvent, ts: float) -> EventRow:
    message = _scrub(event.message)
    stack = _scrub(event.stack)
    req_url = referrer_url(event.req_url) if event.req_url else ""
    file = referrer_url(event.file) if event.file else ""
    fingerprint = fingerprint_error(
        kind=event.kind,
        type=event.type,
        message=message,
        stack=stack,
        file=file,
        req_url=req_url,
        status=event.status or None,
        method=event.method,
    )
    return replace(
        base,
        ts=ts,
        type="error",
        error_kind=event.kind,
        error_type=event.type,
        message=message,
        stack=stack,
        file=file,
        line=event.line,
        col=event.col,
        release=event.release,
        method=event.method.upper(),
        req_url=req_url,
        status=event.status,
        duration=event.duration,
        fingerprint=fingerprint.hash,
        culprit=fingerprint.culprit,
    )


_ROW_BUILDERS: dict[type, Callable[..., EventRow]] = {
    Vital: _vital_row,
    ErrorEvent: _error_row,
    Click: _click_row,
    Submit: _submit_row,
    Scroll: _scroll_row,
    Engagement: _engagement_row,
    Custom: _custom_row,
    Timing: _timing_row,
}


# web-vitals thresholds (DESIGN §6): value <= good is "good", > poor is "poor".
VITAL_THRESHOLDS: dict[str, tuple[float, float]] = {
    "LCP": (2500, 4000),
    "INP": (200, 500),
    "CLS": (0.1, 0.25),
    "FCP": (1800, 3000),
    "TTFB": (800, 1800),
    "FID": (100, 300),
}


def vital_rating(name: str, value: float) -> str:
    good, poor = VITAL_THRESHOLDS[name]
    if value <= good:
        return "good"
    return "needs-improvement" if value <= poor else "poor"
