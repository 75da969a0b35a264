"""How each alert metric's value is obtained: through the query and triage APIs' own
functions, never a second copy of their SQL.

- error_rate, visitors, pageviews, bounce_rate, engagement_rate: the overview key of
  `app.query.metrics.overview` over the window (with the rule's filters); samples for
  `min_samples`: page views (error_rate) or sessions (bounce and engagement rates);
- vital_p75, poor_share: `p75` and the `poor` share of `app.query.vitals.vitals` over the
  window, `metric=<vital>`; samples: the vital's samples;
- errors, issue_new, issue_regressed, issue_spike: from the triage list (`list_issues`)
  over the window, every status: the error events; the issues first seen in the window;
  the issues that regressed in it; the most events of one issue;
- dropped_events: this process's ingest counters per site (bots, stale events) in the
  window; spool_backlog: this process's spool in bytes (embedded), or the stream's
  entries (scale mode);
- `anomaly` rules: `app.query.metrics.timeseries`, `interval=hour`, over the previous N
  weeks: the last whole hour, scored by `app.alerts.anomaly`.

Rules are grouped before anything is computed: every rule of a site with the same
window and filters shares one overview (and one vitals reading for all its vitals, one
issue list per window), and the sites that ask the same question (window and filters)
are answered together, in one statement each (`overview_by_site`, `vitals_by_site`,
`list_issues_by_site`: the same functions' SQL, for several sites); anomaly rules share
one hourly series per (site, filters, weeks), kept for the hour (`SeriesCache`), since a
past hour changes only with late events. The window is `[now - window, now)`, in UTC,
parsed by the API's own `parse_query`, so a rule's window means what the same `from`/`to`
mean in the API.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from app.alerts.anomaly import score_last
from app.alerts.evaluate import Reading
from app.alerts.rules import RuleSpec
from app.query import metrics as query_metrics
from app.query import vitals as query_vitals
from app.query.params import Query, parse_query
from app.store.client import Store
from app.triage.issues import IssueQuery, list_issues_by_site

__all__ = ["IngestHealth", "MetricReader", "SeriesCache", "window_query"]

log = logging.getLogger("beacon.alerts")

OVERVIEW_METRICS = frozenset(
    {"error_rate", "visitors", "pageviews", "bounce_rate", "engagement_rate"}
)
ISSUE_METRICS = frozenset({"errors", "issue_new", "issue_regressed", "issue_spike"})
_SAMPLES_OF = {"error_rate": "pageviews", "bounce_rate": "sessions", "engagement_rate": "sessions"}
#: Issues the triage list is asked for in one window (it counts all of them anyway).
MAX_ISSUES = 100_000
SERIES_TTL_SECONDS = 300.0


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def window_query(
    site: str, spec: RuleSpec, start: dt.datetime, end: dt.datetime, **extra: list[str]
) -> Query:
    """The query API's `Query` for a rule's filters over `[start, end)`."""
    params = {"from": [_iso(start)], "to": [_iso(end)], **spec.filter_params(), **extra}
    return parse_query(site, params, allowed=tuple(extra))


def _filters_key(spec: RuleSpec) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted((k, tuple(v)) for k, v in spec.filter_params().items()))


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class IngestHealth:
    """Ingest health from this process's own counters: events dropped per site (sampled
    every round, so a window's count is a difference of samples) and the backlog."""

    def __init__(
        self,
        dropped_by_site: Callable[[], dict[str, int]],
        backlog: Callable[[], float] | None = None,
        *,
        keep_seconds: float = 32 * 86400,
    ) -> None:
        self._dropped = dropped_by_site
        self._backlog = backlog
        #: Scale mode: the stream's length, observed by the evaluator before each round.
        self.observed_backlog: int | None = None
        self._keep = keep_seconds
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._started = time.time()

    def sample(self, now: float) -> None:
        self._samples.append((now, dict(self._dropped())))
        while len(self._samples) > 2 and self._samples[1][0] < now - self._keep:
            self._samples.popleft()
        # One sample a minute is enough for old windows: thin out the older ones.
        if len(self._samples) > 4096:
            kept = [s for i, s in enumerate(self._samples) if i % 2 == 0 or i > 2048]
            self._samples = deque(kept)

    def dropped(self, site: str, window: float, now: float) -> float:
        current = self._dropped().get(site, 0)
        start = now - window
        before = 0
        for moment, counts in self._samples:
            if moment > start:
                break
            before = counts.get(site, 0)
        return float(current - before)

    def backlog(self) -> float | None:
        if self._backlog is not None:
            return float(self._backlog())
        return None if self.observed_backlog is None else float(self.observed_backlog)


class SeriesCache:
    """Hourly series of anomaly rules, by (site, filters, weeks, metrics, hour): a whole
    hour's value only changes with late events, so a series is read again at most every
    `SERIES_TTL_SECONDS` within its hour."""

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[float, dict[str, Any]]] = {}

    def get(self, key: Any, now: float) -> dict[str, Any] | None:
        found = self._entries.get(key)
        if found is None or now - found[0] > SERIES_TTL_SECONDS:
            return None
        return found[1]

    def put(self, key: Any, value: dict[str, Any], now: float) -> None:
        hour = key[-1]
        self._entries = {k: v for k, v in self._entries.items() if k[-1] == hour}
        self._entries[key] = (now, value)


def _by_site(computations: dict[Any, Any]) -> dict[Any, list[Any]]:
    """Plan keys (site first) grouped by the rest of the key: one group per question
    that several sites ask."""
    groups: dict[Any, list[Any]] = {}
    for key in computations:
        groups.setdefault(key[1:], []).append(key)
    return groups


class _Plan:
    """The distinct computations one round needs, each run once."""

    def __init__(self) -> None:
        self.overviews: dict[Any, Query] = {}
        self.vitals: dict[Any, tuple[Query, set[str]]] = {}
        self.issues: dict[Any, IssueQuery] = {}
        self.series: dict[Any, tuple[Query, set[str]]] = {}


class MetricReader:
    def __init__(self, store: Store, health: IngestHealth | None = None) -> None:
        self.store = store
        self.health = health
        self.series_cache = SeriesCache()
        #: Computations of the last `compute`, by kind, and the seconds they took.
        self.last_counts: dict[str, int] = {}
        self.last_seconds: dict[str, float] = {}

    # -- planning -----------------------------------------------------------------------

    def _key(self, site: str, spec: RuleSpec, now: dt.datetime) -> tuple[str, Any]:
        window = spec.window_seconds
        metric = spec.metric
        if spec.anomaly is not None:
            hour_end = now.replace(minute=0, second=0, microsecond=0)
            return "series", (site, _filters_key(spec), spec.anomaly.weeks, hour_end)
        if metric in OVERVIEW_METRICS:
            return "overview", (site, window, _filters_key(spec))
        if metric in ("vital_p75", "poor_share"):
            return "vitals", (site, window, _filters_key(spec))
        if metric in ISSUE_METRICS:
            return "issues", (site, window)
        return "ingest", (site,)

    def plan(self, rules: Sequence[tuple[str, str, RuleSpec]], now: dt.datetime) -> _Plan:
        plan = _Plan()
        for _rule_id, site, spec in rules:
            kind, key = self._key(site, spec, now)
            start = now - dt.timedelta(seconds=spec.window_seconds)
            if kind == "overview" and key not in plan.overviews:
                plan.overviews[key] = window_query(site, spec, start, now)
            elif kind == "vitals":
                if key not in plan.vitals:
                    plan.vitals[key] = (window_query(site, spec, start, now), set())
                assert spec.vital is not None
                plan.vitals[key][1].add(spec.vital)
            elif kind == "issues" and key not in plan.issues:
                plan.issues[key] = IssueQuery(
                    site=site, start=start, end=now, statuses=("all",), limit=MAX_ISSUES
                )
            elif kind == "series":
                hour_end = key[-1]
                assert spec.anomaly is not None
                if key not in plan.series:
                    begin = hour_end - dt.timedelta(weeks=spec.anomaly.weeks, hours=1)
                    plan.series[key] = (
                        window_query(site, spec, begin, hour_end, interval=["hour"]),
                        {"pageviews", "sessions"},
                    )
                plan.series[key][1].add(spec.metric)
        return plan

    # -- computing ----------------------------------------------------------------------

    def compute(self, plan: _Plan, now: dt.datetime) -> dict[tuple[str, Any], Any]:
        """Every computation of the plan (blocking: run it in a worker thread). A failed
        one is stored as its exception, which the rules depending on it report."""
        results: dict[tuple[str, Any], Any] = {}
        store = self.store

        seconds: dict[str, float] = dict.fromkeys(("overview", "vitals", "issues", "series"), 0.0)

        def run(kind: str, key: Any, call: Callable[[], Any]) -> None:
            began = time.perf_counter()
            try:
                results[kind, key] = call()
            except Exception as exc:
                log.warning(
                    "an alert metric could not be computed",
                    extra={"kind": kind, "site_id": key[0], "error": str(exc)[:300]},
                )
                results[kind, key] = exc
            seconds[kind] += time.perf_counter() - began

        def run_many(kind: str, keys: list[Any], call: Callable[[], dict[str, Any]]) -> None:
            """One computation for several sites: each key (site first) gets its site's."""
            began = time.perf_counter()
            try:
                answers = call()
                for key in keys:
                    results[kind, key] = answers[key[0]]
            except Exception as exc:
                log.warning(
                    "an alert metric could not be computed",
                    extra={"kind": kind, "sites": len(keys), "error": str(exc)[:300]},
                )
                for key in keys:
                    results[kind, key] = exc
            seconds[kind] += time.perf_counter() - began

        # One statement per (window, filters) for all the sites that ask it, not per site.
        for keys in _by_site(plan.overviews).values():
            query = msgspec.structs.replace(
                plan.overviews[keys[0]], sites=tuple(k[0] for k in keys)
            )
            run_many("overview", keys, lambda q=query: query_metrics.overview_by_site(store, q))
        vitals_groups: dict[Any, list[Any]] = {}
        for key, (_query, names) in plan.vitals.items():
            vitals_groups.setdefault((key[1:], tuple(sorted(names))), []).append(key)
        for (_, names), keys in vitals_groups.items():
            query = msgspec.structs.replace(
                plan.vitals[keys[0]][0], metrics=names, sites=tuple(k[0] for k in keys)
            )
            run_many("vitals", keys, lambda q=query: query_vitals.vitals_by_site(store, q))
        for keys in _by_site(plan.issues).values():
            issue_query = plan.issues[keys[0]]
            sites = [k[0] for k in keys]
            run_many(
                "issues",
                keys,
                lambda q=issue_query, s=sites: list_issues_by_site(store, q, s),
            )
        clock = now.timestamp()
        for key, (query, names) in plan.series.items():
            wanted = msgspec.structs.replace(query, metrics=tuple(sorted(names)))
            cache_key = (key, wanted.metrics, key[-1])
            cached = self.series_cache.get(cache_key, clock)
            if cached is not None:
                results["series", key] = cached
                continue
            run("series", key, lambda q=wanted: query_metrics.timeseries(store, q))
            if not isinstance(results["series", key], Exception):
                self.series_cache.put(cache_key, results["series", key], clock)
        self.last_counts = {
            "overview": len(plan.overviews),
            "vitals": len(plan.vitals),
            "issues": len(plan.issues),
            "series": len(plan.series),
        }
        self.last_seconds = {k: round(v, 3) for k, v in seconds.items()}
        return results

    # -- readings -----------------------------------------------------------------------

    def reading(
        self, site: str, spec: RuleSpec, now: dt.datetime, results: dict[tuple[str, Any], Any]
    ) -> Reading:
        kind, key = self._key(site, spec, now)
        if kind == "ingest":
            return self._ingest(site, spec, now)
        found = results.get((kind, key))
        if isinstance(found, Exception) or found is None:
            return Reading(value=None, error=str(found)[:300] if found else "not computed")
        match kind:
            case "overview":
                samples_key = _SAMPLES_OF.get(spec.metric)
                return Reading(
                    value=float(found[spec.metric]),
                    samples=int(found[samples_key]) if samples_key else None,
                )
            case "vitals":
                assert spec.vital is not None
                summary = found["metrics"][spec.vital]
                field = "p75" if spec.metric == "vital_p75" else "poor"
                value = summary[field]
                return Reading(
                    value=None if value is None else float(value), samples=summary["samples"]
                )
            case "issues":
                return self._issues(spec, now, found)
            case _:
                return self._anomaly(spec, found)

    def _ingest(self, site: str, spec: RuleSpec, now: dt.datetime) -> Reading:
        if self.health is None:
            return Reading(value=None, error="no ingest counters in this process")
        if spec.metric == "dropped_events":
            value = self.health.dropped(site, spec.window_seconds, now.timestamp())
            return Reading(value=value)
        backlog = self.health.backlog()
        return Reading(value=backlog, error="" if backlog is not None else "backlog unknown")

    @staticmethod
    def _issues(spec: RuleSpec, now: dt.datetime, listing: dict[str, Any]) -> Reading:
        issues = listing["issues"]
        start = now - dt.timedelta(seconds=spec.window_seconds)
        match spec.metric:
            case "errors":
                return Reading(value=float(sum(i["events"] for i in issues)))
            case "issue_new":
                found = [
                    i["issue_id"]
                    for i in issues
                    if (seen := _parse_time(i["first_seen"])) is not None and seen >= start
                ]
            case "issue_regressed":
                found = [
                    i["issue_id"]
                    for i in issues
                    if i["status"] == "regressed"
                    and (at := _parse_time(i["regressed_at"])) is not None
                    and at >= start
                ]
            case _:
                top = max(issues, key=lambda i: (i["events"], i["issue_id"]), default=None)
                if top is None:
                    return Reading(value=0.0)
                return Reading(
                    value=float(top["events"]),
                    detail={"issue_id": top["issue_id"], "title": top["title"]},
                )
        return Reading(value=float(len(found)), detail={"issues": sorted(found)[:20]})

    @staticmethod
    def _anomaly(spec: RuleSpec, series: dict[str, Any]) -> Reading:
        assert spec.anomaly is not None
        points = series["results"]
        if not points:
            return Reading(value=None, error="no hourly series")
        values = [float(p[spec.metric]) for p in points]
        # Weeks before the site's first page view are not a baseline: leave them out.
        first = next((i for i, p in enumerate(points) if p["pageviews"]), len(points))
        last = points[-1]
        samples_key = _SAMPLES_OF.get(spec.metric)
        score = score_last(values, weeks=spec.anomaly.weeks, metric=spec.metric, first=first)
        if score is None:
            return Reading(value=values[-1], error="too little history: at least 3 earlier weeks")
        return Reading(
            value=values[-1],
            samples=int(last[samples_key]) if samples_key else None,
            z=round(score.z, 3),
            detail={
                "hour": last["date"],
                "median": round(score.median, 6),
                "z": round(score.z, 3),
                "weeks": score.weeks,
            },
        )
