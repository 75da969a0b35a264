"""Triage state rules: actions, and when a resolved issue counts as regressed."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from app.triage.lifecycle import (
    Action,
    Assign,
    Comment,
    Ignore,
    IssueState,
    ReleaseOrder,
    ReleaseSeen,
    Reopen,
    Resolve,
    ResolveNextRelease,
    apply_action,
    evaluate,
)

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(hours=2)
ORDER = ReleaseOrder({"1.9.0": T0 - dt.timedelta(days=9), "1.10.0": T0 - dt.timedelta(days=1)})


def act(
    action: Action, state: IssueState | None = None, *, issue: str = "1.10.0", site: str = "1.10.0"
) -> IssueState:
    new, _ = apply_action(
        state or IssueState(), action, now=T0, version=7, issue_release=issue, site_release=site
    )
    return new


def seen(release: str, events: int = 1) -> ReleaseSeen:
    return ReleaseSeen(release=release, first_ts=LATER, events=events)


def test_resolve_records_moment_and_current_release() -> None:
    state = act(Resolve())
    assert (state.status, state.resolved_at, state.resolved_in_release, state.resolve_mode) == (
        "resolved",
        T0,
        "1.10.0",
        "now",
    )
    assert state.version == 7


@pytest.mark.parametrize(
    ("release", "status"),
    [
        ("1.10.0", "regressed"),
        ("1.11.0", "regressed"),
        ("2.0.0", "regressed"),
        ("1.9.0", "resolved"),
        ("1.2.3", "resolved"),
    ],
)
def test_resolved_issue_regresses_on_same_or_newer_release_only(release: str, status: str) -> None:
    assert evaluate(act(Resolve()), [seen(release)], ORDER).status == status


def test_regression_says_when_and_which_release() -> None:
    effective = evaluate(act(Resolve()), [seen("1.9.0", 4), seen("1.11.0", 2)], ORDER)
    assert effective.status == "regressed"
    assert (effective.regressed_at, effective.regressed_release) == (LATER, "1.11.0")
    assert effective.events_since == 2


def test_resolve_next_release_ignores_the_current_release() -> None:
    state = act(ResolveNextRelease())
    assert evaluate(state, [seen("1.10.0", 50)], ORDER).status == "resolved"
    assert evaluate(state, [seen("1.10.1")], ORDER).status == "regressed"


def test_resolve_in_a_named_release() -> None:
    state = act(Resolve(release="1.12.0"))
    assert state.resolve_mode == "in_release"
    assert evaluate(state, [seen("1.11.0")], ORDER).status == "resolved"
    assert evaluate(state, [seen("1.12.0")], ORDER).status == "regressed"


def test_non_version_releases_are_ordered_by_first_seen() -> None:
    order = ReleaseOrder({"abc123": T0 - dt.timedelta(days=3), "def456": T0 - dt.timedelta(days=1)})
    state = act(Resolve(), issue="def456")
    assert evaluate(state, [seen("abc123")], order).status == "resolved"
    assert evaluate(state, [seen("def456")], order).status == "regressed"
    # a release never seen before the resolution is a new one
    assert evaluate(state, [seen("9f8e7d")], order).status == "regressed"


def test_without_releases_any_new_event_regresses() -> None:
    state = act(Resolve(), issue="", site="")
    assert evaluate(state, [seen("")], ReleaseOrder({})).status == "regressed"
    assert evaluate(state, [], ReleaseOrder({})).status == "resolved"


def test_version_order_is_numeric_and_prerelease_first() -> None:
    order = ReleaseOrder({})
    assert order.newer("1.10.0", "1.9.9", since=T0)
    assert order.newer("v2", "1.99", since=T0)
    assert order.newer("1.2.0", "1.2.0-rc1", since=T0)
    assert not order.newer("1.2.0-rc1", "1.2.0", since=T0)


def test_ignore_until_count_reopens_past_the_count() -> None:
    state = act(Ignore(until_count=10))
    assert evaluate(state, [seen("1.10.0", 10)], ORDER).status == "ignored"
    assert evaluate(state, [seen("1.10.0", 6), seen("1.9.0", 5)], ORDER).status == "unresolved"
    assert evaluate(act(Ignore()), [seen("1.10.0", 10_000)], ORDER).status == "ignored"


def test_reopen_assign_comment() -> None:
    resolved = act(Resolve())
    assert act(Reopen(), resolved).status == "unresolved"
    assigned = act(Assign(assignee=" ana "), resolved)
    assert (assigned.assignee, assigned.status) == ("ana", "resolved")
    commented, detail = apply_action(
        assigned, Comment(text="looking"), now=T0, version=9, issue_release="", site_release=""
    )
    assert detail == {"text": "looking"}
    assert commented.status == "resolved" and commented.assignee == "ana"


def test_actions_decode_strictly() -> None:
    decoder = msgspec.json.Decoder(Action)
    assert decoder.decode(b'{"action": "ignore", "until_count": 3}') == Ignore(until_count=3)
    with pytest.raises(msgspec.ValidationError, match="action"):
        decoder.decode(b'{"action": "delete"}')
    with pytest.raises(msgspec.ValidationError, match="until_count"):
        decoder.decode(b'{"action": "ignore", "until_count": -1}')
    with pytest.raises(msgspec.ValidationError, match="text"):
        decoder.decode(b'{"action": "comment"}')
