"""Issues over the real embedded store: rollup, list, detail, triage, source maps.

Events are written the way the pipeline writes them (EventRow JSON lines into `events`),
so these tests exercise the migration's materialized view and every query of
`app.triage.issues` against chdb, without the HTTP layer (tests/triage/test_api.py has
that).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.store.client import Store
from app.store.rows import EVENT_COLUMNS, EventRow, encode_rows
from app.triage.fingerprint import fingerprint_error
from app.triage.issues import IssueNotFound, IssueQuery, change_issue, issue_detail, list_issues
from app.triage.lifecycle import Assign, Comment, Ignore, Reopen, Resolve, ResolveNextRelease
from app.triage.sourcemaps import SourceMapError, store_sourcemap

SITE = "s_test"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FIXTURES = Path(__file__).parent / "fixtures"
CART_STACK = (FIXTURES / "sourcemap" / "node_stack.txt").read_text()
CHROME = """TypeError: Cannot read properties of undefined (reading 'id')
    at Object.renderCart (https://shop.example/assets/cart-BkF3x9aZ.js:1:2345)
    at loadPage (https://shop.example/assets/app-Cq81zzP1.js:1:999)"""
FIREFOX = """renderCart@https://shop.example/assets/cart-BkF3x9aZ.js:1:2351
loadPage@https://shop.example/assets/app-Cq81zzP1.js:1:1003"""
CHECKOUT = """RangeError: Invalid array length
    at buildRows (https://shop.example/assets/checkout-a1b2c3d4.js:3:10)"""


def error_row(
    *,
    at: dt.datetime,
    sid: str,
    visitor: int,
    stack: str = CHROME,
    type_: str = "TypeError",
    message: str = "Cannot read properties of undefined (reading 'id')",
    release: str = "1.0.0",
    browser: str = "Chrome",
    path: str = "/cart",
    site: str = SITE,
) -> EventRow:
    fingerprint = fingerprint_error(kind="error", type=type_, message=message, stack=stack)
    return EventRow(
        site_id=site,
        ts=at.timestamp(),
        received_at=at.timestamp(),
        type="error",
        sid=sid,
        visitor_id=visitor,
        session_seq=1,
        session_start=at.timestamp(),
        path=path,
        url="https://shop.example" + path,
        browser=browser,
        os="Linux",
        error_kind="error",
        error_type=type_,
        message=message,
        stack=stack,
        release=release,
        fingerprint=fingerprint.hash,
        culprit=fingerprint.culprit,
    )


def page_row(kind: str, *, at: dt.datetime, sid: str, visitor: int, **fields: Any) -> EventRow:
    return EventRow(
        site_id=SITE,
        ts=at.timestamp(),
        received_at=at.timestamp(),
        type=kind,
        sid=sid,
        visitor_id=visitor,
        session_seq=1,
        session_start=at.timestamp(),
        **fields,
    )


def insert(store: Store, rows: list[EventRow]) -> None:
    store.insert_json_rows("events", EVENT_COLUMNS, encode_rows(rows), dedup_token=uuid.uuid4().hex)


def query(**overrides: Any) -> IssueQuery:
    values: dict[str, Any] = {
        "site": SITE,
        "start": NOW - dt.timedelta(days=2),
        "end": NOW + dt.timedelta(hours=1),
        "statuses": ("all",),
    }
    values.update(overrides)
    return IssueQuery(**values)


def issue_id(stack: str = CHROME, type_: str = "TypeError", message: str = "m") -> str:
    return fingerprint_error(kind="error", type=type_, message=message, stack=stack).hash


@pytest.fixture
def seeded(store: Store) -> Store:
    t = NOW - dt.timedelta(hours=3)
    rows = [
        # one issue seen from Chrome and Firefox, 3 events, 2 visitors, 2 sessions
        error_row(at=t, sid="a", visitor=1),
        error_row(at=t + dt.timedelta(minutes=1), sid="a", visitor=1, path="/cart/7"),
        error_row(
            at=t + dt.timedelta(hours=1),
            sid="b",
            visitor=2,
            stack=FIREFOX,
            browser="Firefox",
            message='can\'t access property "id", o is undefined',
        ),
        # another issue, 1 event
        error_row(
            at=t + dt.timedelta(minutes=30),
            sid="c",
            visitor=3,
            stack=CHECKOUT,
            type_="RangeError",
            message="Invalid array length",
            path="/checkout",
        ),
        # another site's error must never show
        error_row(at=t, sid="z", visitor=9, site="s_other"),
        # what the visitor did before the first error
        page_row(
            "pageview",
            at=t - dt.timedelta(minutes=2),
            sid="a",
            visitor=1,
            path="/cart",
            title="Cart",
        ),
        page_row(
            "click",
            at=t - dt.timedelta(seconds=5),
            sid="a",
            visitor=1,
            path="/cart",
            target="button#checkout",
            text="Checkout",
        ),
        page_row(
            "click",
            at=t + dt.timedelta(minutes=5),
            sid="a",
            visitor=1,
            path="/cart",
            target="a.after",
        ),
    ]
    insert(store, rows)
    return store


def test_list_groups_counts_and_sorts(seeded: Store) -> None:
    result = list_issues(seeded, query(sort="events"))
    assert result["total"] == 2
    first, second = result["issues"]
    assert first["issue_id"] == issue_id()
    assert (first["events"], first["users"], first["sessions"]) == (3, 2, 2)
    assert first["culprit"] == "renderCart (assets/cart)"
    assert first["status"] == "unresolved"
    assert first["title"].startswith("TypeError: ")
    assert first["last_release"] == "1.0.0"
    assert second["issue_id"] == issue_id(CHECKOUT, "RangeError")
    assert second["title"] == "RangeError: Invalid array length"
    assert [i["issue_id"] for i in list_issues(seeded, query(sort="first_seen"))["issues"]] == [
        second["issue_id"],
        first["issue_id"],
    ]


def test_list_search_paging_and_period(seeded: Store) -> None:
    assert [i["title"] for i in list_issues(seeded, query(q="array length"))["issues"]] == [
        "RangeError: Invalid array length"
    ]
    assert list_issues(seeded, query(q="checkout-nothing"))["total"] == 0
    page = list_issues(seeded, query(sort="events", limit=1, offset=1))
    assert page["total"] == 2 and len(page["issues"]) == 1
    old = query(start=NOW - dt.timedelta(days=30), end=NOW - dt.timedelta(days=20))
    assert list_issues(seeded, old)["total"] == 0


def test_detail_has_stack_breakdowns_histogram_and_breadcrumbs(seeded: Store) -> None:
    detail = issue_detail(seeded, query(), issue_id())
    assert (detail["events"], detail["users"], detail["sessions"]) == (3, 2, 2)
    assert {b["value"]: b["events"] for b in detail["browsers"]} == {"Chrome": 2, "Firefox": 1}
    assert {p["value"] for p in detail["pages"]} == {"/cart", "/cart/7"}
    assert detail["releases"] == [{"value": "1.0.0", "events": 3, "users": 2}]
    assert sum(h["events"] for h in detail["histogram"]) == 3
    assert len(detail["histogram"]) == 2  # two distinct hours
    assert detail["culprit_frame"]["function"] == "renderCart"  # latest event: Firefox
    assert [f["function"] for f in detail["stack"]] == ["renderCart", "loadPage"]
    recent = detail["recent_events"]
    assert [e["sid"] for e in recent] == ["b", "a", "a"]
    oldest = recent[-1]
    assert [(c["type"], c["target"]) for c in oldest["breadcrumbs"]] == [
        ("pageview", None),
        ("click", "button#checkout"),
    ]
    assert recent[0]["breadcrumbs"] == []


def test_unknown_or_foreign_issue_is_not_found(seeded: Store) -> None:
    with pytest.raises(IssueNotFound):
        issue_detail(seeded, query(), "0" * 16)
    with pytest.raises(IssueNotFound):
        issue_detail(seeded, query(site="s_other"), issue_id(CHECKOUT, "RangeError"))
    with pytest.raises(IssueNotFound):
        change_issue(seeded, SITE, "not-an-id", Reopen())


def test_resolve_then_old_release_does_not_regress_but_new_one_does(seeded: Store) -> None:
    fp = issue_id()
    changed = change_issue(seeded, SITE, fp, Resolve(by="ana"), now=NOW)
    assert changed["status"] == "resolved" and changed["resolved_in_release"] == "1.0.0"
    assert list_issues(seeded, query(statuses=("unresolved", "regressed")))["total"] == 1
    insert(
        seeded, [error_row(at=NOW + dt.timedelta(minutes=1), sid="d", visitor=4, release="0.9.0")]
    )
    assert issue_detail(seeded, query(), fp)["status"] == "resolved"
    insert(
        seeded, [error_row(at=NOW + dt.timedelta(minutes=2), sid="e", visitor=5, release="1.1.0")]
    )
    detail = issue_detail(seeded, query(), fp)
    assert detail["status"] == "regressed" and detail["stored_status"] == "resolved"
    assert detail["regressed_release"] == "1.1.0"
    listed = list_issues(seeded, query(statuses=("regressed",)))["issues"]
    assert [i["issue_id"] for i in listed] == [fp]
    assert [h["action"] for h in detail["history"]] == ["resolve"]
    assert detail["history"][0]["by"] == "ana"


def test_resolve_next_release_waits_for_a_newer_release(seeded: Store) -> None:
    fp = issue_id(CHECKOUT, "RangeError")
    change_issue(seeded, SITE, fp, ResolveNextRelease(), now=NOW)
    insert(
        seeded,
        [
            error_row(
                at=NOW + dt.timedelta(minutes=1),
                sid="f",
                visitor=6,
                stack=CHECKOUT,
                type_="RangeError",
                message="x",
                release="1.0.0",
            )
        ],
    )
    assert issue_detail(seeded, query(), fp)["status"] == "resolved"
    insert(
        seeded,
        [
            error_row(
                at=NOW + dt.timedelta(minutes=2),
                sid="g",
                visitor=7,
                stack=CHECKOUT,
                type_="RangeError",
                message="x",
                release="1.0.1",
            )
        ],
    )
    assert issue_detail(seeded, query(), fp)["status"] == "regressed"


def test_ignore_assign_comment_reopen_and_history(seeded: Store) -> None:
    fp = issue_id()
    change_issue(seeded, SITE, fp, Ignore(until_count=1), now=NOW)
    assert list_issues(seeded, query(statuses=("ignored",)))["total"] == 1
    change_issue(seeded, SITE, fp, Assign(assignee="ana"), now=NOW + dt.timedelta(seconds=1))
    change_issue(
        seeded, SITE, fp, Comment(text="on it", by="ana"), now=NOW + dt.timedelta(seconds=2)
    )
    detail = issue_detail(seeded, query(), fp)
    assert (detail["status"], detail["assignee"]) == ("ignored", "ana")
    insert(seeded, [error_row(at=NOW + dt.timedelta(minutes=1), sid=s, visitor=8) for s in "hi"])
    assert issue_detail(seeded, query(), fp)["status"] == "unresolved"  # 2 events > 1
    change_issue(seeded, SITE, fp, Reopen(), now=NOW + dt.timedelta(minutes=5))
    detail = issue_detail(seeded, query(), fp)
    assert detail["stored_status"] == "unresolved" and detail["assignee"] == "ana"
    assert [(h["action"], h.get("text")) for h in detail["history"]] == [
        ("ignore", None),
        ("assign", None),
        ("comment", "on it"),
        ("reopen", None),
    ]


def test_source_map_de_minifies_the_detail_stack(store: Store) -> None:
    stack = CART_STACK
    message = "Cannot read properties of undefined (reading 'amount')"
    insert(
        store,
        [
            error_row(
                at=NOW - dt.timedelta(minutes=5),
                sid="s",
                visitor=1,
                stack=stack,
                message=message,
                release="2.0.0",
            )
        ],
    )
    fp = issue_id(stack)
    before = issue_detail(store, query(), fp)
    assert not any(f["mapped"] for f in before["stack"])
    content = (FIXTURES / "sourcemap" / "cart.min.js.map").read_bytes()
    uploaded = store_sourcemap(
        store, SITE, "2.0.0", "https://cdn.example/assets/cart.min.js?v=1", content, now=NOW
    )
    assert (uploaded.file, uploaded.sources) == ("/assets/cart.min.js", 1)
    store_sourcemap(
        store,
        SITE,
        "1.0.0",
        "~/assets/cart.min.js",
        b'{"version":3,"sources":["x.js"],"names":[],"mappings":"AAAA"}',
        now=NOW,
    )  # another release: not used
    top = issue_detail(store, query(), fp)["stack"][0]
    assert top["mapped"]
    assert (top["original_file"], top["original_line"]) == ("src/cart.js", 3)
    assert top["original_function"] == "formatPrice"
    assert top["context_line"] == "  const amount = item.price.amount;"


def test_invalid_source_maps_are_refused(store: Store) -> None:
    with pytest.raises(SourceMapError, match="not a valid source map"):
        store_sourcemap(store, SITE, "1", "/a.js", b"{not json", now=NOW)
    with pytest.raises(SourceMapError, match="release"):
        store_sourcemap(store, SITE, "", "/a.js", b"{}", now=NOW)


def test_a_late_event_for_a_cached_closed_day_is_counted(store: Store) -> None:
    """The list caches closed days' numbers per process; a late event must still count."""
    two_days_ago = NOW - dt.timedelta(days=2)
    insert(store, [error_row(at=two_days_ago, sid="late-1", visitor=41)])
    period = query(start=NOW - dt.timedelta(days=5))
    before = {i["issue_id"]: i for i in list_issues(store, period)["issues"]}
    assert [i["events"] for i in before.values()] == [1]
    # The same day again, after the cache holds it: another event and another user.
    insert(store, [error_row(at=two_days_ago + dt.timedelta(minutes=5), sid="late-2", visitor=42)])
    after = {i["issue_id"]: i for i in list_issues(store, period)["issues"]}
    assert after.keys() == before.keys()
    (issue,) = after.values()
    assert (issue["events"], issue["users"], issue["sessions"]) == (2, 2, 2)
