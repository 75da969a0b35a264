"""The enrichment pipeline: an ordered list of small, named, pure steps.

Plausible's ingestion pipeline is the model. A step takes the batch's `Work` and the
`Lookups` it may consult (sites, salts, the IP database — passed in, never global) and
returns the work, possibly enriched, or a `Drop` with a reason from one typed set. The
runner stops at the first drop, counts it, and times every step by name
(on a sample of runs).

Order: site & origin → UA parse → bot filter → country → clock skew → visitor id and
session → expand (per event: URL and referrer normalization with PII scrub, referrer source,
error fingerprint, clock fix, stale filter) into rows for the store.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import msgspec

from app.ingest.bots import bot_reason
from app.ingest.clock import clock_skew_ms, corrected_ts
from app.ingest.expand import PageCache, expand_events
from app.ingest.geo import IpCountry, country_from_header
from app.ingest.outcomes import Drop, IngestStats
from app.ingest.schema import Batch
from app.ingest.site import SiteRegistry
from app.ingest.useragent import UserAgentInfo, parse_user_agent
from app.ingest.visitor import SessionBridge, SessionState, utc_day, visitor_hash
from app.store.rows import EventRow

__all__ = ["STEPS", "Lookups", "RequestInfo", "Work", "run_pipeline"]


class RequestInfo(msgspec.Struct, frozen=True, gc=False):
    """What the HTTP layer knows of the request, besides its body."""

    received_at_ms: int
    ip: str
    user_agent: str
    origin: str = ""
    country_header: str = ""


class Lookups:
    """Everything a step may consult; owned by the app, passed to every run."""

    def __init__(
        self,
        *,
        sites: SiteRegistry,
        salt_of_day: Callable[[int], bytes],
        ip_country: IpCountry | None,
        bridge: SessionBridge,
        pages: PageCache,
        max_event_age_ms: int,
    ) -> None:
        self.sites = sites
        self.salt_of_day = salt_of_day
        self.ip_country = ip_country
        self.bridge = bridge
        self.pages = pages
        self.max_event_age_ms = max_event_age_ms


class Work(msgspec.Struct):
    batch: Batch
    request: RequestInfo
    agent: UserAgentInfo | None = None
    country: str = ""
    skew_ms: int = 0
    computed_visitor: int = 0
    session: SessionState | None = None
    rows: list[EventRow] = []
    stale: int = 0


Step = Callable[[Work, Lookups], "Work | Drop"]


def check_site(work: Work, lookups: Lookups) -> Work | Drop:
    site_id = work.batch.site
    if lookups.sites.get(site_id) is None:
        return Drop("unknown_site", f"unknown site key {site_id!r}")
    if not lookups.sites.origin_allowed(site_id, work.request.origin):
        return Drop("origin_not_allowed", f"origin {work.request.origin!r} is not allowed")
    return work


def parse_agent(work: Work, lookups: Lookups) -> Work | Drop:
    work.agent = parse_user_agent(work.request.user_agent)
    return work


def filter_bots(work: Work, lookups: Lookups) -> Work | Drop:
    assert work.agent is not None
    reason = bot_reason(work.request.user_agent, work.agent)
    return Drop("bot", reason) if reason else work


def locate_country(work: Work, lookups: Lookups) -> Work | Drop:
    country = country_from_header(work.request.country_header)
    if not country and lookups.ip_country is not None:
        country = lookups.ip_country.lookup(work.request.ip)
    work.country = country
    return work


def fix_clock(work: Work, lookups: Lookups) -> Work | Drop:
    work.skew_ms = clock_skew_ms(work.batch.sent_at, work.request.received_at_ms)
    return work


def identify_visitor(work: Work, lookups: Lookups) -> Work | Drop:
    request = work.request
    salt = lookups.salt_of_day(utc_day(request.received_at_ms))
    work.computed_visitor = visitor_hash(salt, work.batch.site, request.ip, request.user_agent)
    first_ts = corrected_ts(
        min(event.ts for event in work.batch.events), work.skew_ms, request.received_at_ms
    )
    work.session = lookups.bridge.session(
        work.batch.site, work.batch.sid, work.computed_visitor, first_ts, request.received_at_ms
    )
    return work


def expand(work: Work, lookups: Lookups) -> Work | Drop:
    assert work.agent is not None and work.session is not None
    work.rows, work.stale = expand_events(
        work.batch,
        agent=work.agent,
        country=work.country,
        session=work.session,
        computed_visitor=work.computed_visitor,
        skew_ms=work.skew_ms,
        received_at_ms=work.request.received_at_ms,
        max_age_ms=lookups.max_event_age_ms,
        pages=lookups.pages,
    )
    if not work.rows and work.stale:
        return Drop("stale", f"{work.stale} events older than the accepted age")
    return work


STEPS: tuple[tuple[str, Step], ...] = (
    ("check_site", check_site),
    ("parse_agent", parse_agent),
    ("filter_bots", filter_bots),
    ("locate_country", locate_country),
    ("fix_clock", fix_clock),
    ("identify_visitor", identify_visitor),
    ("expand", expand),
)


#: Every this many runs, each step is timed (`IngestStats.step_seconds`, scaled back up to
#: all runs); timing every step of every request cost more than the smallest steps.
TIMING_SAMPLE_EVERY = 16


def run_pipeline(
    batch: Batch,
    request: RequestInfo,
    lookups: Lookups,
    stats: IngestStats,
    steps: tuple[tuple[str, Step], ...] = STEPS,
) -> Work | Drop:
    """Run `steps` in order; the result is the enriched work or the first drop."""
    stats.pipeline_runs += 1
    timed = stats.pipeline_runs % TIMING_SAMPLE_EVERY == 0
    result: Work | Drop = Work(batch, request)
    for name, step in steps:
        if timed:
            started = perf_counter()
            result = step(result, lookups)
            stats.step_seconds[name] += (perf_counter() - started) * TIMING_SAMPLE_EVERY
        else:
            result = step(result, lookups)
        if isinstance(result, Drop):
            # Per site only for known sites: any string can claim to be a site key.
            site = batch.site if result.reason != "unknown_site" else ""
            stats.dropped(result.reason, len(batch.events), site)
            return result
    if result.stale:
        stats.dropped("stale", result.stale, batch.site)
    return result
