"""What happens to every received event: accepted, dropped or rejected, and why.

Every event that is not stored has exactly one reason: a `DropReason` when a pipeline
step dropped its batch (unknown site and disallowed origin are answered 401/403, bots
and stale events still 202 so that bots learn nothing), or a `RejectReason` when the
request was refused before the pipeline (bad body, size, type, a full spool). The
counters are plain integers on the hot path and are exported to Prometheus at scrape
time (`app/metrics.py`), because a Prometheus `Counter.inc()` takes a lock and costs
more than a whole pipeline step.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import msgspec

__all__ = ["Drop", "DropReason", "IngestStats", "RejectReason"]

DropReason = Literal["unknown_site", "origin_not_allowed", "bot", "stale"]
RejectReason = Literal[
    "invalid",
    "too_large",
    "content_type",
    "content_encoding",
    "method",
    "rate_limited",
    "spool_full",
    "store_unavailable",
]


class Drop(msgspec.Struct, frozen=True, gc=False):
    """A pipeline step's verdict that the whole batch is not stored."""

    reason: DropReason
    detail: str = ""


class IngestStats:
    """Counters of the ingest path (single event loop, so no locks)."""

    def __init__(self) -> None:
        self.requests = 0
        self.events_received = 0
        self.events_accepted = 0
        self.events_dropped: Counter[str] = Counter()
        #: Events dropped per claimed site key (alerts' `dropped_events`).
        self.events_dropped_by_site: Counter[str] = Counter()
        self.requests_rejected: Counter[str] = Counter()
        self.pipeline_runs = 0
        #: Seconds spent in each pipeline step, estimated from a sample of the runs.
        self.step_seconds: Counter[str] = Counter()

    def dropped(self, reason: DropReason, events: int, site: str = "") -> None:
        self.events_dropped[reason] += events
        if site:
            self.events_dropped_by_site[site] += events

    def rejected(self, reason: RejectReason) -> None:
        self.requests_rejected[reason] += 1
