"""`beacon demo`: realistic synthetic traffic through the real HTTP API, with ground truth.

Generates sessions (Zipf-distributed pages, a mobile/desktop mix, log-normal vitals,
errors on some pages, clicks, scrolls, custom events, returning visitors, and a share of
bot traffic that Beacon must drop), sends them to a running Beacon as protocol-v1
batches — one request per page, as the snippet does — and computes, from what it sent,
the overview metrics by the definitions of DESIGN §6. Then it reads the overview API for
the same period and prints both side by side. With `--tz ZONE` the traffic is centred on
the zone's last local midnight, and every local day it touches is checked too (page
views by their own time, sessions by their start, visitors with any event in the day).

Visitors are told apart by their user agent (each demo visitor's is unique), so the
ground truth holds whatever the server's client-IP setting. Traffic goes to the given
URL (loopback by default), bounded by `--sessions`.

`beacon bench ingest --mix realistic` replays the same generator's traffic with
`shared_agents=True`: visitors then carry real browser user agents (weighted by family,
shared between visitors as in real traffic) and a client IP of their own (sent as
`X-Forwarded-For`), and ids end in a marker that the load generator renews on every
pass over its pool.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import sys
import time
import urllib.parse
import uuid
import zlib
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

__all__ = ["GroundTruth", "generate", "run_demo"]

BASE_AGENTS = {
    "desktop": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ],
    "mobile": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
    ],
}
#: Real browser user agents of several families, with rough shares of traffic (weights),
#: for the benchmark's realistic mix: many visitors share one string, as in real traffic.
SHARED_AGENTS: tuple[tuple[str, int], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 20),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36", 6),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 7),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 2),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", 5),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 3),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 1),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0", 1),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", 5),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", 1),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 14),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 5),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", 14),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", 2),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 3),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", 1),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 1),
    ("Mozilla/5.0 (Linux; Android 14; 23127PN0CG Build/UKQ1.230804.001; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36", 2),
)  # fmt: skip
#: First octets of address blocks handed out by the five regional registries, so that
#: the offline country database places generated visitors in many countries.
_PUBLIC_OCTETS = (2, 5, 24, 31, 37, 41, 46, 49, 58, 60, 73, 77, 81, 86, 89, 90, 101, 103,
                  110, 118, 121, 125, 151, 176, 177, 180, 186, 187, 189, 190, 196, 200,
                  201, 203, 212, 213, 217)  # fmt: skip
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]
PAGES = (
    [
        "/",
        "/pricing",
        "/docs",
        "/blog",
        "/about",
        "/signup",
        "/login",
        "/features",
        "/changelog",
        "/contact",
    ]
    + [f"/blog/post-{i}" for i in range(40)]
    + [f"/docs/page-{i}" for i in range(50)]
)
REFERRERS = [
    "",
    "",
    "",
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://t.co/abc",
    "https://partner.test/x",
]


class GroundTruth(msgspec.Struct):
    visitors: int
    sessions: int
    pageviews: int
    bounce_rate: float
    engagement_rate: float
    views_per_session: float
    avg_session_duration_ms: float
    avg_engaged_ms: float
    error_rate: float
    bot_sessions: int
    requests: int
    events: int


class Request(msgspec.Struct):
    user_agent: str
    body: bytes
    ip: str = ""  # the visitor's address, with shared agents only


class SentSession(msgspec.Struct):
    """What one human session sent: enough to count any period by DESIGN §6."""

    agent: str
    start_ms: int
    last_ms: int
    interacted: bool
    customs: int
    engaged_ms: int
    #: (time, type, page-view id) of every event sent.
    events: list[tuple[int, str, str]]

    @property
    def views(self) -> int:
        return sum(1 for _, kind, _ in self.events if kind == "pageview")


def _zipf_page(rng: random.Random) -> str:
    # P(rank k) ~ 1/k: inverse-transform sampling over the page list.
    weights_total = sum(1 / k for k in range(1, len(PAGES) + 1))
    target = rng.random() * weights_total
    cumulative = 0.0
    for rank, page in enumerate(PAGES, start=1):
        cumulative += 1 / rank
        if cumulative >= target:
            return page
    return PAGES[-1]


def truth_of(
    sent: list[SentSession], start_ms: int, end_ms: int, *, bots: int, requests: int, events: int
) -> GroundTruth:
    """The overview of [start, end) by DESIGN §6: page views (and errored page views) by
    their own time, session metrics over the sessions that start in it, visitors with
    any event in it."""
    sessions = [s for s in sent if start_ms <= s.start_ms < end_ms]
    inside = [(s, e) for s in sent for e in s.events if start_ms <= e[0] < end_ms]
    pageviews = sum(1 for _, (_, kind, _) in inside if kind == "pageview")
    errored = len({pid for _, (_, kind, pid) in inside if kind == "error"})
    visitors = len({s.agent for s, _ in inside})
    count = len(sessions)
    views = sum(s.views for s in sessions)
    bounces = sum(s.views == 1 and not s.interacted for s in sessions)
    engaged = sum(s.engaged_ms >= 10_000 or s.views >= 2 or s.customs > 0 for s in sessions)
    return GroundTruth(
        visitors=visitors,
        sessions=count,
        pageviews=pageviews,
        bounce_rate=round(bounces / count, 6) if count else 0.0,
        engagement_rate=round(engaged / count, 6) if count else 0.0,
        views_per_session=round(views / count, 6) if count else 0.0,
        avg_session_duration_ms=round(sum(s.last_ms - s.start_ms for s in sessions) / count, 3)
        if count
        else 0.0,
        avg_engaged_ms=round(sum(s.engaged_ms for s in sessions) / count, 3) if count else 0.0,
        error_rate=round(errored / pageviews, 6) if pageviews else 0.0,
        bot_sessions=bots,
        requests=requests,
        events=events,
    )


def generate(
    site: str,
    sessions: int,
    *,
    start_ms: int,
    end_ms: int,
    seed: int = 42,
    shared_agents: bool = False,
    id_suffix: str = "",
) -> tuple[list[list[Request]], list[SentSession], GroundTruth]:
    """The requests of `sessions` sessions between start and end (one list per session,
    in the order a browser sends them), what the human ones sent, and the truth of the
    whole span.

    With `shared_agents`, visitors get real browser user agents shared with others and
    an IP each (visitors are told apart by IP, and the truth by the visitor's own key);
    session and page ids end in `id_suffix`."""
    rng = random.Random(seed)
    traffic: list[list[Request]] = []
    sent: list[SentSession] = []
    visitors: list[str] = []
    addresses: dict[str, str] = {}
    agents, weights = zip(*SHARED_AGENTS, strict=True)
    bots = 0
    events_sent = 0
    span = end_ms - start_ms - 3_600_000
    for _ in range(sessions):
        requests: list[Request] = []
        traffic.append(requests)
        is_bot = rng.random() < 0.05
        if is_bot:
            agent = rng.choice(BOT_AGENTS)
        elif visitors and rng.random() < 0.2:
            agent = rng.choice(visitors)  # a returning visitor
        elif shared_agents:
            agent = f"{len(visitors)}\t{rng.choices(agents, weights)[0]}"
            visitors.append(agent)
            addresses[agent] = ".".join(
                str(o) for o in (rng.choice(_PUBLIC_OCTETS), *rng.choices(range(1, 255), k=3))
            )
        else:
            device = "mobile" if rng.random() < 0.45 else "desktop"
            agent = f"{rng.choice(BASE_AGENTS[device])} BeaconDemo/{uuid.uuid4().hex[:12]}"
            visitors.append(agent)
        ip = addresses.get(agent, "")
        sid = uuid.uuid4().hex[: 20 - len(id_suffix)] + id_suffix
        ts = start_ms + rng.randrange(max(span, 1))
        page_count = 1 if rng.random() < 0.45 else 1 + min(int(rng.expovariate(0.5)) + 1, 12)
        first_ts = ts
        last_ts = ts
        session_engaged = 0
        interacted = False
        customs = 0
        session_events: list[tuple[int, str, str]] = []
        referrer = rng.choice(REFERRERS)
        for index in range(page_count):
            pid = uuid.uuid4().hex[: 16 - len(id_suffix)] + id_suffix
            page = _zipf_page(rng)
            utm = (
                "?utm_source=newsletter&utm_medium=email"
                if index == 0 and rng.random() < 0.1
                else ""
            )
            events: list[dict[str, Any]] = [
                {
                    "t": "pageview",
                    "ts": ts,
                    "pid": pid,
                    "url": f"https://demo.test{page}{utm}",
                    "ref": referrer if index == 0 else f"https://demo.test{page}",
                    "title": page.strip("/") or "home",
                    "vw": 390 if "Mobile" in agent else 1440,
                    "vh": 844 if "Mobile" in agent else 900,
                    "lang": "en-US",
                    "nav": "navigate" if index == 0 else "spa",
                }
            ]
            lcp = rng.lognormvariate(math.log(1900), 0.55)
            events += [
                {
                    "t": "vital",
                    "ts": ts + 50,
                    "pid": pid,
                    "name": "TTFB",
                    "value": round(rng.lognormvariate(math.log(300), 0.6), 1),
                },
                {
                    "t": "vital",
                    "ts": ts + 400,
                    "pid": pid,
                    "name": "FCP",
                    "value": round(lcp * rng.uniform(0.5, 0.9), 1),
                },
                {
                    "t": "vital",
                    "ts": ts + 900,
                    "pid": pid,
                    "name": "LCP",
                    "value": round(lcp, 1),
                    "target": rng.choice(["main>img.hero", "h1", "section>p"]),
                },
            ]
            dwell = rng.randrange(3_000, 240_000)
            engaged = int(dwell * rng.uniform(0.2, 0.9))
            scroll = rng.randrange(0, 101)
            if rng.random() < 0.5:
                events.append(
                    {
                        "t": "click",
                        "ts": ts + dwell // 3,
                        "pid": pid,
                        "target": rng.choice(["nav>a.docs", "button#buy", "a.more"]),
                        "text": "Go",
                        "rage": rng.random() < 0.03,
                    }
                )
                interacted = True
            if rng.random() < 0.08:
                events.append(
                    {
                        "t": "custom",
                        "ts": ts + dwell // 2,
                        "pid": pid,
                        "name": "signup",
                        "props": {"plan": rng.choice(["free", "pro"])},
                    }
                )
                customs += 1
                interacted = True
            if rng.random() < 0.06:
                events.append(
                    {
                        "t": "error",
                        "ts": ts + dwell // 2,
                        "pid": pid,
                        "kind": "error",
                        "type": "TypeError",
                        "message": f"Cannot read properties of undefined (reading "
                        f"'{rng.choice(['id', 'name', 'price'])}')",
                        "stack": "TypeError: x\n    at render (https://demo.test/app.js:1:2)",
                    }
                )
            if scroll > 50:
                interacted = True
            events.append(
                {
                    "t": "vital",
                    "ts": ts + dwell,
                    "pid": pid,
                    "name": "CLS",
                    "value": round(max(0.0, rng.gauss(0.05, 0.08)), 4),
                }
            )
            if rng.random() < 0.7:
                events.append(
                    {
                        "t": "vital",
                        "ts": ts + dwell,
                        "pid": pid,
                        "name": "INP",
                        "value": 8 * rng.randrange(3, 80),
                        "target": "button#buy",
                        "attr": {"type": "pointer"},
                    }
                )
            events.append(
                {
                    "t": "engagement",
                    "ts": ts + dwell,
                    "pid": pid,
                    "engaged_ms": engaged,
                    "scroll": scroll,
                }
            )
            session_engaged += engaged
            last_ts = max(last_ts, ts + dwell)
            # sent_at is stamped when the request leaves (`_send_all`), as a browser does.
            body = {"site": site, "sid": sid, "sent_at": 0, "events": events}
            requests.append(Request(agent.rpartition("\t")[2], json.dumps(body).encode(), ip))
            events_sent += len(events)
            session_events += [(e["ts"], e["t"], pid) for e in events]
            ts += dwell + rng.randrange(500, 60_000)  # never a 30-minute gap
        if is_bot:
            bots += 1
            continue
        sent.append(
            SentSession(
                agent, first_ts, last_ts, interacted, customs, session_engaged, session_events
            )
        )
    # Sessions interleave, as visitors do; a session's own requests keep their order (a
    # browser sends a page's batch before the next page exists).
    rng.shuffle(traffic)
    requests = sum(len(r) for r in traffic)
    truth = truth_of(sent, start_ms, end_ms + 1, bots=bots, requests=requests, events=events_sent)
    return traffic, sent, truth


async def _send_all(url: str, traffic: list[list[Request]], concurrency: int) -> dict[int, int]:
    """POST every request over keep-alive HTTP/1.1 connections, each session's in order
    on one connection; count answers by status."""
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    queue: asyncio.Queue[list[Request]] = asyncio.Queue()
    for session in traffic:
        queue.put_nowait(session)
    statuses: dict[int, int] = {}
    throttled = [0]

    async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: Request) -> tuple[int, int]:  # fmt: skip
        """(status, Retry-After seconds or 0)."""
        sent_at = b'"sent_at": %d' % int(time.time() * 1000)
        body = request.body.replace(b'"sent_at": 0', sent_at, 1)
        # Each synthetic visitor has an address of its own, which a server that trusts
        # X-Forwarded-For (BEACON_CLIENT_IP_HEADER) rate-limits separately.
        address = zlib.crc32(request.user_agent.encode()) & 0xFFFFFF
        forwarded = request.ip or f"10.{address >> 16}.{(address >> 8) & 255}.{address & 255}"
        head = (
            f"POST /api/event HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: text/plain\r\nUser-Agent: {request.user_agent}\r\n"
            f"X-Forwarded-For: {forwarded}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head + body)
        status_line = await reader.readline()
        length = 0
        retry_after = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "retry-after":
                retry_after = int(value)
        await reader.readexactly(length)
        return int(status_line.split()[1]), retry_after

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not queue.empty():
                for request in queue.get_nowait():
                    status, retry_after = await post(reader, writer, request)
                    while status == 429:  # rate-limited: wait as told, then send it again
                        throttled[0] += 1
                        await asyncio.sleep(retry_after or 1)
                        status, retry_after = await post(reader, writer, request)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if throttled[0]:
        print(
            f"beacon demo: {throttled[0]} requests were rate-limited (429) and sent again "
            "after Retry-After. All the demo's traffic comes from this machine: run the "
            "server with BEACON_RATE_LIMIT_IP_PER_SECOND=0 for the demo, or with "
            "BEACON_CLIENT_IP_HEADER=X-Forwarded-For so each synthetic visitor counts as its "
            "own address.",
            file=sys.stderr,
        )
    return statuses


def _overview(url: str, site: str, token: str, params: dict[str, str]) -> dict[str, Any]:
    import httpx

    response = httpx.get(
        f"{url}/api/v1/sites/{site}/overview",
        params=params,
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _mismatches(truth: dict[str, Any], overview: dict[str, Any]) -> list[str]:
    """Keys whose answer differs: counts exactly, rates by more than 0.001, averages by
    more than half a millisecond."""
    wrong = []
    for key, expected in truth.items():
        if key not in overview:
            continue
        tolerance = 0.5 if key.startswith("avg_") else 0.001 if isinstance(expected, float) else 0
        if abs(overview[key] - expected) > tolerance:
            wrong.append(key)
    return wrong


def _window(now_ms: int, hours: int, zone: ZoneInfo | None) -> tuple[int, int]:
    """The traffic's [start, end): the last `hours` up to a minute ago; in a zone, hours
    around its last local midnight (at least ten minutes ago), so sessions cross it. The
    window never reaches past a minute ago, and `generate` starts no session in its last
    hour: in the hour after the midnight, no session starts after it yet."""
    end_ms = now_ms - 60_000
    if zone is None:
        return end_ms - hours * 3_600_000, end_ms
    local = dt.datetime.fromtimestamp((end_ms - 600_000) / 1000, zone)
    midnight = dt.datetime(local.year, local.month, local.day, tzinfo=zone)
    middle = int(midnight.timestamp() * 1000)
    end_ms = min(end_ms, middle + hours * 1_800_000)
    return end_ms - hours * 3_600_000, end_ms


def _local_days(start_ms: int, end_ms: int, zone: ZoneInfo) -> list[dt.date]:
    first = dt.datetime.fromtimestamp(start_ms / 1000, zone).date()
    last = dt.datetime.fromtimestamp((end_ms - 1) / 1000, zone).date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def run_demo(args: argparse.Namespace, create_site: Any) -> int:
    url = args.url.rstrip("/")
    if args.site and args.token:
        site, token = args.site, args.token
    else:
        site, token = create_site()
    zone = ZoneInfo(args.tz) if args.tz else None
    start_ms, end_ms = _window(int(time.time() * 1000), args.hours, zone)
    traffic, sent, truth = generate(
        site, args.sessions, start_ms=start_ms, end_ms=end_ms, seed=args.seed
    )
    began = time.monotonic()
    statuses = asyncio.run(_send_all(url, traffic, args.concurrency))
    sent_seconds = time.monotonic() - began
    # The whole span (UTC), then with --tz each local day it touches: local days cut
    # through the traffic, so sessions cross their edges.
    start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
    end = dt.datetime.fromtimestamp(end_ms / 1000 + 1, dt.UTC)
    periods: list[tuple[dict[str, str], int, int]] = [
        ({"from": start.isoformat(), "to": end.isoformat()}, start_ms, end_ms + 1000)
    ]
    for day in _local_days(start_ms, end_ms, zone) if zone else []:
        first = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
        after = first + dt.timedelta(days=1)  # wall-clock: the next local midnight
        params = {"from": day.isoformat(), "to": day.isoformat(), "tz": zone.key}
        periods.append((params, int(first.timestamp() * 1000), int(after.timestamp() * 1000)))
    counts = {"bots": truth.bot_sessions, "requests": truth.requests, "events": truth.events}
    checks = []
    deadline = time.monotonic() + 60
    for params, lo, hi in periods:
        expected = msgspec.to_builtins(truth_of(sent, lo, hi, **counts))
        overview = _overview(url, site, token, params)
        # Until the last batches are stored: sessions can all be there before their pages.
        while (
            overview["sessions"] < expected["sessions"]
            or overview["pageviews"] < expected["pageviews"]
        ) and time.monotonic() < deadline:
            time.sleep(0.5)
            overview = _overview(url, site, token, params)
        answer = {k: v for k, v in overview.items() if k != "previous"}
        checks.append(
            {
                "period": params,
                "ground_truth": expected,
                "overview": answer,
                "mismatches": _mismatches(expected, answer),
            }
        )
    mismatches = [f"{k} ({c['period']})" for c in checks for k in c["mismatches"]]
    report = {
        "site": site,
        "token": token,
        "from": periods[0][0]["from"],
        "to": periods[0][0]["to"],
        "requests": truth.requests,
        "statuses": statuses,
        "send_seconds": round(sent_seconds, 2),
        "ground_truth": checks[0]["ground_truth"],
        "overview": checks[0]["overview"],
        "periods": checks,
        "matches": not mismatches,
        "mismatches": mismatches,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"site {site} — sent {truth.requests} requests ({truth.events} events, "
            f"{truth.bot_sessions} bot sessions) in {sent_seconds:.1f}s: {statuses}"
        )
        for check in checks:
            period = check["period"]
            zone_name = period.get("tz", "UTC")
            print(f"\nperiod: from={period['from']} to={period['to']} ({zone_name})")
            print(f"{'metric':26}{'ground truth':>16}{'overview API':>16}")
            for key, value in check["ground_truth"].items():
                if key in check["overview"]:
                    print(f"{key:26}{value:>16}{check['overview'][key]:>16}")
        print("\nmatch" if not mismatches else f"\nMISMATCH: {', '.join(mismatches)}")
        print(f"token for this site: {token}")
    return 0 if not mismatches else 1
