"""The request pools the ingest benchmarks replay.

- `repeat` (issue 2's traffic, kept for comparison): 2,000 distinct 10-event batches of
  one page view, five vitals, a timing, a click, a scroll and an engagement, sent with
  six user agents and 50,000 client addresses in rotation; the same session ids come
  back on every pass over the pool.
- `realistic`: `beacon demo`'s generator (`app/bench/demo.py`): Zipf pages, referrers
  and UTM tags, a mobile/desktop mix of real browser user agents shared between
  visitors, one client address per visitor (`X-Forwarded-For`), 20 % returning
  visitors, log-normal vitals, clicks, custom events, errors, 5 % bots (dropped by
  Beacon), one request per page view in the order a browser sends them, sessions
  interleaved. Session and page ids are renewed on every pass over the pool, and
  `sent_at` is stamped when the request leaves, so every pass is new traffic.
- `new-sessions`: the repeat mix with every request a session of its own, renewed on
  every pass (as issue 16's outside test sent it): the worst case for per-session state.

A pool is generated once per run with a placeholder site key and formatted per server
(`for_site`), as whole HTTP requests for `loadgen.c`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

import msgspec

from app.bench.demo import generate
from app.bench.loadgen import NOW_MARK, PASS_MARK, PoolRequest, format_request

__all__ = ["MIXES", "Pool", "make_bodies", "pool"]

MIXES = ("realistic", "repeat", "new-sessions")
_SITE = "s_placeholder_site_key"
ORIGIN = "https://bench.test"

REPEAT_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
)


class Pool(msgspec.Struct):
    mix: str
    bodies: list[bytes]  # with the placeholder site key
    headers: list[list[tuple[str, str]]]
    events: int  # events in the whole pool
    bot_requests: int

    @property
    def events_per_request(self) -> float:
        return self.events / len(self.bodies)

    def for_site(self, site: str) -> list[PoolRequest]:
        key = json.dumps(site).encode()
        placeholder = json.dumps(_SITE).encode()
        return [
            format_request(body.replace(placeholder, key, 1), headers)
            for body, headers in zip(self.bodies, self.headers, strict=True)
        ]


def make_bodies(
    site: str, count: int, events: int, seed: int = 7, id_suffix: str = ""
) -> list[bytes]:
    """`count` distinct protocol-v1 batches of `events` events each (the repeat mix);
    session and page ids end in `id_suffix`."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    pages = [f"/docs/{i}" for i in range(40)] + ["/", "/pricing", "/blog/post-1?utm_source=hn"]
    bodies = []
    for _ in range(count):
        pid = uuid.uuid4().hex[: 16 - len(id_suffix)] + id_suffix
        ts = now - rng.randrange(60_000)
        page = rng.choice(pages)
        evs: list[dict[str, Any]] = [
            {"t": "pageview", "ts": ts, "pid": pid, "url": f"https://bench.test{page}",
             "ref": rng.choice(["", "https://www.google.com/", "https://news.ycombinator.com/"]),
             "title": "Bench page", "vw": 1280, "vh": 720, "lang": "en-US"},
            {"t": "vital", "ts": ts + 900, "pid": pid, "name": "LCP",
             "value": rng.lognormvariate(7.5, 0.5), "target": "main>img.hero",
             "attr": {"element": "main>img.hero"}},
            {"t": "vital", "ts": ts + 300, "pid": pid, "name": "FCP",
             "value": rng.lognormvariate(7, 0.5)},
            {"t": "vital", "ts": ts + 100, "pid": pid, "name": "TTFB",
             "value": rng.lognormvariate(5.5, 0.6)},
            {"t": "vital", "ts": ts + 5000, "pid": pid, "name": "CLS",
             "value": round(rng.random() * 0.2, 4)},
            {"t": "vital", "ts": ts + 5000, "pid": pid, "name": "INP",
             "value": 8 * rng.randrange(5, 60), "target": "button#buy",
             "attr": {"type": "pointer"}},
            {"t": "timing", "ts": ts + 1200, "pid": pid, "dns": 3, "tcp": 10, "tls": 14,
             "req": 60, "res": 12, "dom": 400, "load": 1100, "transfer": 48213},
            {"t": "click", "ts": ts + 2000, "pid": pid, "target": "nav>a.docs", "text": "Docs"},
            {"t": "scroll", "ts": ts + 3000, "pid": pid, "depth": rng.randrange(101)},
            {"t": "engagement", "ts": ts + 6000, "pid": pid,
             "engaged_ms": rng.randrange(500, 60_000), "scroll": 60},
        ]  # fmt: skip
        while len(evs) < events:
            evs.append({"t": "custom", "ts": ts + 4000, "pid": pid, "name": "signup",
                        "props": {"plan": "pro"}})  # fmt: skip
        sid = uuid.uuid4().hex[: 20 - len(id_suffix)] + id_suffix
        batch = {"site": site, "sid": sid, "sent_at": now, "events": evs[:events]}
        bodies.append(json.dumps(batch).encode())
    return bodies


def _repeat(events: int, *, new_sessions: bool = False) -> Pool:
    bodies = make_bodies(_SITE, 2000, events, id_suffix=PASS_MARK.decode() if new_sessions else "")
    headers = [
        [("Content-Type", "text/plain"), ("User-Agent", REPEAT_AGENTS[i % len(REPEAT_AGENTS)]),
         ("X-Forwarded-For", f"81.2.{i % 200}.{i % 250 + 1}"), ("Origin", ORIGIN)]
        for i in range(1, len(bodies) + 1)
    ]  # fmt: skip
    return Pool("new-sessions" if new_sessions else "repeat", bodies, headers,
                events * len(bodies), 0)  # fmt: skip


def _realistic(sessions: int, seed: int) -> Pool:
    now = int(time.time() * 1000)
    traffic, _sent, truth = generate(
        _SITE, sessions, start_ms=now - 2 * 3_600_000, end_ms=now, seed=seed,
        shared_agents=True, id_suffix=PASS_MARK.decode(),
    )  # fmt: skip
    # Interleave sessions as concurrent visitors do: each session's requests keep their
    # order, a few hundred sessions are under way at any point of the pool.
    rng = random.Random(seed)
    active: list[list[Any]] = []
    queue = list(traffic)
    ordered = []
    while queue or active:
        while queue and len(active) < 300:
            active.append(list(queue.pop()))
        current = rng.randrange(len(active))
        ordered.append(active[current].pop(0))
        if not active[current]:
            active.pop(current)
    bodies, headers = [], []
    sent_at = b'"sent_at": %s' % NOW_MARK
    bots = 0
    for index, request in enumerate(ordered):
        bodies.append(request.body.replace(b'"sent_at": 0', sent_at, 1))
        ip = request.ip or f"66.249.{index % 250}.{index % 200 + 1}"  # bots: crawler blocks
        bots += not request.ip
        headers.append(
            [("Content-Type", "text/plain"), ("User-Agent", request.user_agent),
             ("X-Forwarded-For", ip), ("Origin", ORIGIN)]
        )  # fmt: skip
    return Pool("realistic", bodies, headers, truth.events, bots)


def pool(mix: str, *, events: int = 10, sessions: int = 20_000, seed: int = 11) -> Pool:
    """The request pool of `mix` (see the module docstring)."""
    if mix == "repeat":
        return _repeat(events)
    if mix == "new-sessions":
        return _repeat(events, new_sessions=True)
    if mix == "realistic":
        return _realistic(sessions, seed)
    raise ValueError(f"unknown mix {mix!r}: one of {', '.join(MIXES)}")
