"""`beacon bench alerts`: one evaluation round of many rules over many sites (embedded).

Fills a scratch store with N synthetic events spread over S sites (default 10 million
over 100 sites: `fill_events` of `bench queries`, one site at a time, 30 days each, the
last half hour after a settling run as in a running server), creates R rules (default
1,000: ten per site, in a mix of metrics, windows and filters that a team would set up,
listed in `RULES`), and runs evaluation rounds through the evaluator itself
(`AlertService.run_round`, no notification channels). It prints the first round (the
hourly anomaly series read and cached) and the median of the next ones, with the
distinct computations a round runs (rules are grouped: one overview per site, window
and filters, …) and the time spent in each kind.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
from typing import Any

import msgspec

from app.alerts.metrics import IngestHealth, MetricReader
from app.alerts.rules import RuleSpec, check_rule
from app.alerts.service import AlertService
from app.alerts.store import AlertStore, RuleRecord, new_rule_id
from app.bench.queries import fill_events
from app.config import Settings
from app.store.client import Store
from app.store.closer import SETTLE_MARGIN, settle_sessions
from app.store.closing import closable_until, close_days
from app.store.migrate import apply_migrations

__all__ = ["RULES", "register", "run_alerts_bench"]

#: Ten rules per site.
RULES: list[dict[str, Any]] = [
    {"name": "errors 5m", "metric": "error_rate", "window": "5m", "op": "gt",
     "threshold": 0.05, "min_samples": 20},
    {"name": "traffic 5m", "metric": "visitors", "window": "5m", "op": "lt", "threshold": 1},
    {"name": "bounce 1h", "metric": "bounce_rate", "window": "1h", "op": "gt", "threshold": 0.9},
    {"name": "page views 1h", "metric": "pageviews", "window": "1h", "op": "lt",
     "threshold": 5},
    {"name": "LCP 5m", "metric": "vital_p75", "vital": "LCP", "window": "5m", "op": "gt",
     "threshold": 4000, "min_samples": 5},
    {"name": "INP 5m", "metric": "vital_p75", "vital": "INP", "window": "5m", "op": "gt",
     "threshold": 500, "min_samples": 5},
    {"name": "checkout errors 1h", "metric": "error_rate", "window": "1h", "op": "gt",
     "threshold": 0.1, "filters": {"route": "/p/1"}},
    {"name": "errors 5m count", "metric": "errors", "window": "5m", "op": "gt",
     "threshold": 50},
    {"name": "new issue 1h", "metric": "issue_new", "window": "1h", "op": "gte",
     "threshold": 1},
    {"name": "traffic drop", "metric": "pageviews", "window": "1h",
     "anomaly": {"direction": "down", "weeks": 4}},
]  # fmt: skip


def _fill(store: Store, sites: list[str], events: int) -> tuple[float, float]:
    """Each site's share of `events` over 30 days up to now; settled like bench queries."""
    per_site = max(events // len(sites), 1)
    tail = max(per_site // 1440, 1)
    end = dt.datetime.now(dt.UTC)
    fill = 0.0
    for site in sites:
        fill += fill_events(store, per_site, end=end, part=(0, per_site - tail), site=site)
    began = time.perf_counter()
    settle_sessions(store, now=dt.datetime.now(dt.UTC) + SETTLE_MARGIN)
    close_days(store, until=closable_until(end, dt.timedelta(hours=72)))
    settle = time.perf_counter() - began
    for site in sites:
        fill += fill_events(store, per_site, end=end, part=(per_site - tail, per_site), site=site)
    return fill, settle


def run_alerts_bench(args: argparse.Namespace) -> int:
    sites = [f"s_bench{i:03d}" for i in range(args.sites)]
    with tempfile.TemporaryDirectory(prefix="beacon-abench-") as tmp:
        settings = Settings(data_dir=tmp, database="abench", alerts_interval=60)
        store = Store.open(settings)
        apply_migrations(store, retention_days=400)
        fill_seconds, settle_seconds = _fill(store, sites, args.events)
        stored = store.rows(f"SELECT count() FROM {store.table('events')}")[0][0]
        now = dt.datetime.now(dt.UTC)
        records = []
        for n in range(args.rules):
            site = sites[n % len(sites)]
            template = RULES[(n // len(sites)) % len(RULES)]
            spec = check_rule(msgspec.convert(template, RuleSpec), site=site, smtp_configured=False)
            records.append(
                RuleRecord(
                    rule_id=new_rule_id(), site=site, spec=spec, created_at=now, updated_at=now
                )
            )
        alerts = AlertStore(store)
        alerts.save_rules(records)
        service = AlertService(
            settings, alerts, MetricReader(store, IngestHealth(lambda: {}, lambda: 0.0))
        )

        async def rounds() -> list[Any]:
            return [await service.run_round() for _ in range(args.rounds)]

        reports = asyncio.run(rounds())
    first, rest = reports[0], reports[1:] or reports
    steady = statistics.median(r.seconds for r in rest)
    report = {
        "events": int(stored),
        "sites": len(sites),
        "rules": first.rules,
        "fill_seconds": round(fill_seconds, 1),
        "settle_seconds": round(settle_seconds, 1),
        "first_round_seconds": first.seconds,
        "round_seconds_median": round(steady, 3),
        "rounds": len(reports),
        "computations": first.computations,
        "computation_seconds_first": first.computation_seconds,
        "computation_seconds_last": reports[-1].computation_seconds,
        "transitions_first_round": first.transitions,
        "reading_errors": first.errors,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{stored:,} events over {len(sites)} sites (filled in {fill_seconds:.1f}s, "
            f"settled in {settle_seconds:.1f}s); {first.rules} rules"
        )
        print(
            f"computations per round: {first.computations} (rules grouped by site, "
            "window and filters)"
        )
        print(f"first round: {first.seconds:.2f}s  {first.computation_seconds}")
        print(
            f"next rounds: median {steady:.2f}s of {len(rest)}  {reports[-1].computation_seconds}"
        )
    return 0


def register(benches: Any) -> None:
    parser = benches.add_parser("alerts", help="one evaluation round of many alert rules")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run_alerts_bench)
