"""Synthetic traffic of a few people over three days, as stored rows, for lifecycle tests.

Every person has sessions with page views, clicks, vitals and errors; the person to be
erased (`PERSON`) has two sessions, one starting before `beacon('user', …)` (its first
page view carries no uid, the same sid), and one error of an issue nobody else hits.
"""

from __future__ import annotations

import datetime as dt
import random

from app.store.rows import EventRow

__all__ = ["PERSON", "SITE", "day_start", "traffic"]

SITE = "s_lifecycle"
PERSON = "user-x"
PAGES = ("/", "/pricing", "/docs", "/blog/a", "/signup")
BROWSERS = (
    ("Chrome", "Windows", "desktop"),
    ("Safari", "iOS", "mobile"),
    ("Firefox", "Linux", "desktop"),
)


def day_start(days_ago: int, now: dt.datetime) -> float:
    day = (now - dt.timedelta(days=days_ago)).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _session(
    rng: random.Random,
    *,
    site: str,
    uid: str,
    sid: str,
    visitor: int,
    start: float,
    anonymous_first: bool,
    person_issue: bool,
) -> list[EventRow]:
    browser, os, device = BROWSERS[visitor % len(BROWSERS)]
    common = {
        "site_id": site,
        "sid": sid,
        "visitor_id": visitor,
        "session_start": start,
        "browser": browser,
        "os": os,
        "device": device,
        "country": ("GB", "DE", "FR")[visitor % 3],
        "referrer_source": ("direct", "search")[visitor % 2],
    }
    rows: list[EventRow] = []
    ts = start
    for n in range(rng.randint(1, 3)):
        pid = f"{sid}-p{n}"
        path = rng.choice(PAGES)
        page = {
            **common,
            "pid": pid,
            "path": path,
            "route": path,
            "url": "https://x.test" + path,
            "user_id": "" if anonymous_first and n == 0 else uid,
        }
        rows.append(EventRow(type="pageview", ts=ts, received_at=ts, **page))
        rows.append(
            EventRow(
                type="vital",
                name="LCP",
                value=float(rng.randint(800, 5000)),
                rating="good",
                target="img.hero",
                ts=ts + 1,
                received_at=ts + 1,
                **page,
            )
        )
        rows.append(
            EventRow(
                type="vital",
                name="INP",
                value=float(rng.randrange(40, 600, 8)),
                target="button.buy",
                ts=ts + 2,
                received_at=ts + 2,
                **page,
            )
        )
        if rng.random() < 0.5:
            rows.append(
                EventRow(
                    type="click", target="a.cta", text="Go", ts=ts + 3, received_at=ts + 3, **page
                )
            )
        if rng.random() < 0.4 or (person_issue and n == 0):
            fingerprint = "fp-person" if person_issue and n == 0 else f"fp-{rng.randint(1, 3)}"
            rows.append(
                EventRow(
                    type="error",
                    error_kind="error",
                    error_type="TypeError",
                    message=f"boom {fingerprint}",
                    fingerprint=fingerprint,
                    culprit="app.js",
                    release="1.0",
                    ts=ts + 4,
                    received_at=ts + 4,
                    **page,
                )
            )
        ts += rng.randint(20, 300)
    return rows


def traffic(
    now: dt.datetime, *, site: str = SITE, seed: int = 7
) -> tuple[list[EventRow], set[str]]:
    """(rows, the sids of PERSON): 8 people, 3 sessions each on three days (today's in
    its early hours), PERSON's sessions among them."""
    rng = random.Random(seed)
    rows: list[EventRow] = []
    person_sids: set[str] = set()
    for person in range(8):
        uid = PERSON if person == 3 else f"user-{person}"
        for days_ago in (2, 1, 0):
            if uid == PERSON and days_ago == 0:
                continue
            start = day_start(days_ago, now) + 600 + person * 900 + rng.randint(0, 300)
            sid = f"sid-{person}-{days_ago}"
            if uid == PERSON:
                person_sids.add(sid)
            rows += _session(
                rng,
                site=site,
                uid=uid,
                sid=sid,
                visitor=1000 + person,
                start=start,
                anonymous_first=uid == PERSON and days_ago == 2,
                person_issue=uid == PERSON and days_ago == 1,
            )
    return rows, person_sids
