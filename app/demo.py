"""`beacon demo`: realistic synthetic traffic through the real HTTP API, with ground truth.

Generates sessions (Zipf-distributed pages, a mobile/desktop mix, log-normal vitals,
errors on some pages, clicks, scrolls, custom events, returning visitors, and a share of
bot traffic that Beacon must drop), sends them to a running Beacon as protocol-v1
batches — one request per page, as the snippet does — and computes, from what it sent,
the overview metrics by the definitions of DESIGN §6. Then it reads the overview API for
the same period and prints both side by side.

Visitors are told apart by their user agent (each demo visitor's is unique), so the
ground truth holds whatever the server's client-IP setting. Traffic goes to the given
URL (loopback by default), bounded by `--sessions`.
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


def generate(
    site: str, sessions: int, *, start_ms: int, end_ms: int, seed: int = 42
) -> tuple[list[list[Request]], GroundTruth]:
    """The requests of `sessions` sessions between start and end (one list per session,
    in the order a browser sends them), and their truth."""
    rng = random.Random(seed)
    traffic: list[list[Request]] = []
    visitors: list[str] = []
    human = bots = 0
    pageviews = bounces = engaged_sessions = error_pages = 0
    duration_total = engaged_total = 0
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
        else:
            device = "mobile" if rng.random() < 0.45 else "desktop"
            agent = f"{rng.choice(BASE_AGENTS[device])} BeaconDemo/{uuid.uuid4().hex[:12]}"
            visitors.append(agent)
        sid = uuid.uuid4().hex[:20]
        ts = start_ms + rng.randrange(max(span, 1))
        page_count = 1 if rng.random() < 0.45 else 1 + min(int(rng.expovariate(0.5)) + 1, 12)
        first_ts = ts
        last_ts = ts
        session_engaged = 0
        interacted = False
        customs = 0
        session_error_pages = 0
        referrer = rng.choice(REFERRERS)
        for index in range(page_count):
            pid = uuid.uuid4().hex[:16]
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
                session_error_pages += 1
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
            requests.append(Request(agent, json.dumps(body).encode()))
            events_sent += len(events)
            ts += dwell + rng.randrange(500, 60_000)  # never a 30-minute gap
        if is_bot:
            bots += 1
            continue
        human += 1
        pageviews += page_count
        bounces += page_count == 1 and not interacted
        engaged_sessions += session_engaged >= 10_000 or page_count >= 2 or customs > 0
        duration_total += last_ts - first_ts
        engaged_total += session_engaged
        error_pages += session_error_pages
    # Sessions interleave, as visitors do; a session's own requests keep their order (a
    # browser sends a page's batch before the next page exists).
    rng.shuffle(traffic)
    distinct_visitors = len(
        {r[0].user_agent for r in traffic if r and "BeaconDemo/" in r[0].user_agent}
    )
    truth = GroundTruth(
        visitors=distinct_visitors,
        sessions=human,
        pageviews=pageviews,
        bounce_rate=round(bounces / human, 6) if human else 0.0,
        engagement_rate=round(engaged_sessions / human, 6) if human else 0.0,
        views_per_session=round(pageviews / human, 6) if human else 0.0,
        avg_session_duration_ms=round(duration_total / human, 3) if human else 0.0,
        avg_engaged_ms=round(engaged_total / human, 3) if human else 0.0,
        error_rate=round(error_pages / pageviews, 6) if pageviews else 0.0,
        bot_sessions=bots,
        requests=sum(len(r) for r in traffic),
        events=events_sent,
    )
    return traffic, truth


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
        forwarded = f"10.{address >> 16}.{(address >> 8) & 255}.{address & 255}"
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


def _overview(
    url: str, site: str, token: str, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    import httpx

    response = httpx.get(
        f"{url}/api/v1/sites/{site}/overview",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def run_demo(args: argparse.Namespace, create_site: Any) -> int:
    url = args.url.rstrip("/")
    if args.site and args.token:
        site, token = args.site, args.token
    else:
        site, token = create_site()
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - 60_000
    start_ms = end_ms - args.hours * 3_600_000
    traffic, truth = generate(site, args.sessions, start_ms=start_ms, end_ms=end_ms, seed=args.seed)
    began = time.monotonic()
    statuses = asyncio.run(_send_all(url, traffic, args.concurrency))
    sent_seconds = time.monotonic() - began
    start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
    end = dt.datetime.fromtimestamp(end_ms / 1000 + 1, dt.UTC)
    deadline = time.monotonic() + 60
    overview = _overview(url, site, token, start, end)
    # Until the last batches are stored: sessions can all be there before their last pages.
    while (
        overview["sessions"] < truth.sessions or overview["pageviews"] < truth.pageviews
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
        overview = _overview(url, site, token, start, end)
    report = {
        "site": site,
        "token": token,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "requests": truth.requests,
        "statuses": statuses,
        "send_seconds": round(sent_seconds, 2),
        "ground_truth": msgspec.to_builtins(truth),
        "overview": {k: v for k, v in overview.items() if k != "previous"},
    }
    keys = [k for k in report["overview"] if k in report["ground_truth"]]
    mismatches = [
        k
        for k in keys
        if (
            abs(overview[k] - report["ground_truth"][k]) > 0.001
            if isinstance(report["ground_truth"][k], float)
            else overview[k] != report["ground_truth"][k]
        )
        and not k.startswith("avg_")
    ] + [
        k
        for k in keys
        if k.startswith("avg_") and abs(overview[k] - report["ground_truth"][k]) > 0.5
    ]
    report["matches"] = not mismatches
    report["mismatches"] = mismatches
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"site {site} — sent {truth.requests} requests ({truth.events} events, "
            f"{truth.bot_sessions} bot sessions) in {sent_seconds:.1f}s: {statuses}"
        )
        print(f"period: from={report['from']} to={report['to']}")
        print(f"{'metric':26}{'ground truth':>16}{'overview API':>16}")
        for key in keys:
            print(f"{key:26}{report['ground_truth'][key]:>16}{overview[key]:>16}")
        print("match" if not mismatches else f"MISMATCH: {', '.join(mismatches)}")
        print(f"token for this site: {token}")
    return 0 if not mismatches else 1
