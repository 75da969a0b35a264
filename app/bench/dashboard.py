"""`beacon bench dashboard`: the dashboard in Chromium on a store of millions of events.

Fills a scratch embedded store with N synthetic events (default 10 million over 30 days,
`fill_events` of `beacon bench queries`, settled and closed as a running server would
have them) for a site made with an API token, in a child process (embedded ClickHouse
allows one process per data directory); then runs `beacon serve` on it, logs in through
the form in the system Chromium (Playwright) and measures, each as the median of
`--repeat` runs after one warm-up:

- overview: from the start of the navigation to all top stats shown and the chart
  drawn (the page's own `performance.mark`s), the script and style sheet from the
  browser's cache as for a returning user (the first, cold load is reported apart),
  each on an idle server (the next begins once the previous one's cards answered);
- filter: from the click on a row of the pages card (another row each run, on a freshly
  loaded overview whose cards have all answered, so no answer comes from the page's
  memory and no other query is running) to the top stats of the filtered query shown;
  the same for the devices card (a session dimension, cheaper for the store than a page,
  which goes through the page views);
- bytes: the JS and CSS transferred (gzip) on a first visit, from Resource Timing.

Targets (issue 12): overview median <= 1.0 s, filter <= 300 ms, JS + CSS <= 150 KB gzipped.
`--keep DIR` fills DIR once and reuses it on later runs (its events end at the hour of the
fill: a store kept for days covers less of the last 30 days).
Everything runs on loopback; timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["register", "run_dashboard_bench"]

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as in the browser tests (shared/BROWSER-NOTES.md): no sandbox as root,
# no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TARGETS = {"overview_ms": 1000.0, "filter_ms": 300.0, "js_css_gzip_bytes": 150 * 1024}


def _fill(data_dir: str, events: int, out: Any) -> None:
    """Child process: a site and `events` synthetic events of it, settled and closed."""
    from app.bench.queries import fill_events
    from app.config import Settings
    from app.store.client import Store
    from app.store.closer import SETTLE_MARGIN, settle_sessions
    from app.store.closing import closable_until, close_days
    from app.store.migrate import apply_migrations
    from app.store.sites import SiteStore

    store = Store.open(Settings(data_dir=data_dir))
    apply_migrations(store, retention_days=400)
    site, token = SiteStore(store).add("bench.test", [])
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    tail = max(events // 1440, 1)
    began = time.perf_counter()
    fill_events(store, events, end=end, part=(0, events - tail), site=site.site_id)
    settle_sessions(store, now=dt.datetime.now(dt.UTC) + SETTLE_MARGIN)
    fill_events(store, events, end=end, part=(events - tail, events), site=site.site_id)
    # The days that can no longer change are closed, as a running server has them (so
    # the server's first closing run, during the measurements, has little to do).
    until = closable_until(end, dt.timedelta(hours=72))
    close_days(store, until=until)
    stored = store.rows(f"SELECT count() FROM {store.table('events')}")[0][0]
    out.send(
        {
            "site": site.site_id,
            "token": token,
            "events": int(stored),
            "fill_seconds": round(time.perf_counter() - began, 1),
        }
    )
    out.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(data_dir: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BEACON_DATA_DIR": data_dir, "BEACON_PORT": str(port)}
    env["BEACON_LOG_LEVEL"] = "WARNING"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], env=env, stdout=sink, stderr=sink
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"beacon serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("beacon serve did not become ready within 180 s")


_READY = (
    "q => { const s = document.querySelector('#stats'); const c = document.querySelector("
    "'#chart .chart'); return s && s.getAttribute('aria-busy') === 'false' && s.dataset.query"
    " === q && c && c.dataset.drawn; }"
)
_SETTLED = (
    "() => document.querySelectorAll('#pages .bar-row, #devices .bar-row').length > 0 && "
    "!document.querySelector('[aria-busy=true], .busy') && "
    "document.querySelector('#realtime').dataset.value !== undefined"
)
# The duration of the first answer of each API path that started at or after `since`
# (Resource Timing), e.g. {'overview': 61}: of the overview's two, the numbers' (the
# previous period's, for the changes, follows it).
_API_MS = (
    "since => { const out = {}; for (const e of performance.getEntriesByType('resource')) {"
    " if (!e.name.includes('/api/v1/') || e.startTime < since) continue;"
    " const k = e.name.split('/api/v1/sites/')[1].split('?')[0].split('/').slice(1).join('/');"
    " if (!(k in out)) out[k] = Math.round(e.duration); } return out; }"
)
_LOADED_AT = (
    "() => Math.max(...['beacon:stats', 'beacon:chart'].map(n => "
    "performance.getEntriesByName(n).at(-1).startTime))"
)


def _clicks(
    page: Any, overview: str, query: str, card: str, dimension: str, repeat: int, api: list[int]
) -> list[float]:
    """Milliseconds from a click on a row of `card` to the filtered top stats, per run; the
    overview API's own time of each run is appended to `api`."""
    times = []
    for run in range(repeat + 1):
        page.goto(overview)
        page.wait_for_function(_READY, arg=query, timeout=120_000)
        # A person clicks on a page that has finished loading: every card answered.
        page.wait_for_function(_SETTLED, timeout=120_000)
        rows = page.locator(f"#{card} button.bar-row")
        page.evaluate(
            "() => document.addEventListener('click', () => { window.__clicked = "
            "performance.now(); }, {capture: true, once: true})"
        )
        rows.nth(run % max(rows.count(), 1)).click()
        page.wait_for_selector(
            f"#stats[aria-busy=false][data-query*='{dimension}=']", timeout=120_000
        )
        times.append(
            page.evaluate(
                "() => performance.getEntriesByName('beacon:stats').at(-1).startTime"
                " - window.__clicked"
            )
        )
        api.append(page.evaluate(_API_MS, page.evaluate("() => window.__clicked"))["overview"])
    return times


def _measure(base: str, site: str, token: str, repeat: int, profile: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    query = "period=30d&tz=UTC"
    overview = f"{base}/sites/{site}?{query}"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#site", site)
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/sites/{site}**")
            loads: list[float] = []
            loads_api: list[int] = []
            transferred: dict[str, int] = {}
            for run in range(repeat + 1):
                page.goto(overview)
                page.wait_for_function(_READY, arg=query, timeout=120_000)
                loads.append(page.evaluate(_LOADED_AT))
                answers = page.evaluate(_API_MS, 0)
                loads_api.append(max(answers["overview"], answers["timeseries"]))
                # The cards ask next: the next load starts once they have answered (a
                # load begun at once shares the server with this one's seven queries).
                page.wait_for_function(_SETTLED, timeout=120_000)
                if run == 0:
                    transferred = page.evaluate(
                        "() => Object.fromEntries(performance.getEntriesByType('resource')"
                        ".filter(e => /\\/static\\/dashboard\\.(js|css)/.test(e.name))"
                        ".map(e => [e.name.split('?')[0].split('/').pop(), e.encodedBodySize]))"
                    )
            clicks_api: dict[str, list[int]] = {"pages": [], "devices": []}
            clicks = {
                card: _clicks(page, overview, query, card, dimension, repeat, clicks_api[card])
                for card, dimension in (("pages", "page"), ("devices", "device"))
            }
        finally:
            context.close()
    return {
        "overview_ms": round(statistics.median(loads[1:]), 1),
        "overview_cold_ms": round(loads[0], 1),
        "overview_runs_ms": [round(v, 1) for v in loads],
        "filter_ms": round(statistics.median(clicks["pages"][1:]), 1),
        "filter_runs_ms": [round(v, 1) for v in clicks["pages"]],
        "filter_device_ms": round(statistics.median(clicks["devices"][1:]), 1),
        "js_css_gzip_bytes": sum(transferred.values()),
        "transferred": transferred,
        # The API's part (the server's answer as the browser timed it), per measurement:
        # what is left is the page's own (navigation, script, drawing).
        "overview_api_ms": statistics.median(loads_api[1:]),
        "filter_api_ms": statistics.median(clicks_api["pages"][1:]),
        "filter_device_api_ms": statistics.median(clicks_api["devices"][1:]),
    }


def run_dashboard_bench(args: argparse.Namespace) -> int:
    if not Path(CHROMIUM).exists():
        raise ValueError(f"the dashboard bench drives the system Chromium: {CHROMIUM} is missing")
    with tempfile.TemporaryDirectory(prefix="beacon-dbench-") as tmp:
        home = Path(args.keep) if args.keep else Path(tmp)
        data_dir = str(home / "data")
        marker = home / "bench-site.json"
        if marker.exists():  # --keep: a store filled by an earlier run
            filled: dict[str, Any] = json.loads(marker.read_text())
        else:
            home.mkdir(parents=True, exist_ok=True)
            receiver, sender = multiprocessing.get_context("spawn").Pipe(duplex=False)
            filler = multiprocessing.get_context("spawn").Process(
                target=_fill, args=(data_dir, args.events, sender)
            )
            filler.start()
            filled = receiver.recv()
            filler.join()
            marker.write_text(json.dumps(filled))
        port = _free_port()
        server = _start_server(data_dir, port, Path(tmp) / "serve.log")
        try:
            figures = _measure(
                f"http://127.0.0.1:{port}",
                filled["site"],
                filled["token"],
                args.repeat,
                str(Path(tmp) / "chromium"),
            )
        finally:
            server.terminate()
            server.wait(60)
    report = {**{k: v for k, v in filled.items() if k != "token"}, "repeat": args.repeat}
    report |= figures
    report["targets"] = TARGETS
    report["met"] = {key: figures[key] <= limit for key, limit in TARGETS.items()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['events']:,} events filled in {report['fill_seconds']} s; "
            f"medians of {args.repeat} runs after one warm-up"
        )
        print(
            f"overview, navigation to top stats and chart: {report['overview_ms']} ms "
            f"(target {TARGETS['overview_ms']:.0f}; first, cold: {report['overview_cold_ms']} ms)"
        )
        print(
            f"filter click to updated top stats: {report['filter_ms']} ms on a page "
            f"(target 300), {report['filter_device_ms']} ms on a device"
        )
        print(
            f"JS + CSS transferred: {report['js_css_gzip_bytes']:,} bytes gzipped "
            f"(target {TARGETS['js_css_gzip_bytes']:,}) {report['transferred']}"
        )
        print(
            "of which the API's answers (median): overview and time series "
            f"{report['overview_api_ms']} ms; filtered overview {report['filter_api_ms']} ms on a "
            f"page, {report['filter_device_api_ms']} ms on a device"
        )
    return 0


def register(benches: Any) -> None:
    parser = benches.add_parser(
        "dashboard", help="the dashboard in Chromium on synthetic events: load, filter, bytes"
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", metavar="DIR", help="fill DIR once, reuse it on later runs")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run_dashboard_bench)
