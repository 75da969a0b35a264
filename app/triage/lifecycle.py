"""An issue's triage state: the actions that change it and when it counts as regressed.

Owns the pure rules; `app.triage.issues` reads and writes the rows.

States: `unresolved`, `resolved`, `ignored` (stored) and `regressed` (derived). Actions:
`resolve` (optionally `{"release": "X"}`: fixed in X), `resolve_next_release`, `ignore`
(optionally `{"until_count": N}`: until N more events), `reopen`, `assign`, `comment`.

Regressions are decided **at query time**, not at ingest: the stored state says when and
against which release the issue was resolved, and the events seen after that moment
(per release) decide. Nothing is written on read, and a new resolve starts from a clean
slate because only events after the new `resolved_at` count. The rules, per mode:

- `resolve` (`now`): the issue's latest release at that moment is R. An event after
  the resolution from R or a later release regresses it; one from an *older* release
  (a stale tab, a cached bundle) does not. An event without a release regresses it only
  when R is unknown too.
- `resolve` with a release X (`in_release`): an event from X or later regresses it.
- `resolve_next_release` (`next_release`): R is the site's latest release at that moment;
  only an event from a release later than R regresses it.

"Later" compares versions when both releases read as versions (`1.10.0` > `1.9.2`,
optional `v`), otherwise by when the site first sent an error from each release; a
release the site has not sent yet counts as later when first seen after the resolution.

An `ignore` with `until_count` N reopens (derived status `unresolved`) once more than N
events arrived after it; a plain ignore stays ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated

import msgspec

__all__ = [
    "ACTIONS",
    "Action",
    "Assign",
    "Comment",
    "Effective",
    "Ignore",
    "IssueState",
    "ReleaseOrder",
    "ReleaseSeen",
    "Reopen",
    "Resolve",
    "ResolveNextRelease",
    "apply_action",
    "evaluate",
]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-+]([0-9A-Za-z.\-]+))?$")


class IssueState(msgspec.Struct, kw_only=True):
    """The stored triage state of one issue (one versioned row of `issue_state`)."""

    status: str = "unresolved"
    resolved_at: dt.datetime = EPOCH
    resolved_in_release: str = ""
    resolve_mode: str = ""  # now | in_release | next_release
    ignored_at: dt.datetime = EPOCH
    ignore_until_count: int = 0
    assignee: str = ""
    version: int = 0


Name = Annotated[str, msgspec.Meta(max_length=200)]
Release = Annotated[str, msgspec.Meta(max_length=128)]


class _Base(msgspec.Struct, tag_field="action", kw_only=True, forbid_unknown_fields=True):
    by: Name = ""  # who acted, free text (API tokens belong to sites, not people)


class Resolve(_Base, tag="resolve"):
    release: Release = ""


class ResolveNextRelease(_Base, tag="resolve_next_release"):
    pass


class Ignore(_Base, tag="ignore"):
    until_count: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] = 0


class Reopen(_Base, tag="reopen"):
    pass


class Assign(_Base, tag="assign"):
    assignee: Name = ""  # "" unassigns


class Comment(_Base, tag="comment"):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]


Action = Resolve | ResolveNextRelease | Ignore | Reopen | Assign | Comment
ACTIONS = ("resolve", "resolve_next_release", "ignore", "reopen", "assign", "comment")


class ReleaseSeen(msgspec.Struct, frozen=True):
    """Events of one issue from one release after a reference moment."""

    release: str
    first_ts: dt.datetime
    events: int


class Effective(msgspec.Struct, frozen=True):
    status: str
    regressed_at: dt.datetime | None = None
    regressed_release: str | None = None
    events_since: int = 0


@lru_cache(maxsize=4096)
def _version_key(release: str) -> tuple[tuple[int, ...], int, str] | None:
    match = _VERSION.match(release.strip())
    if match is None:
        return None
    numbers = tuple(int(part) for part in match.group(1).split("."))
    numbers += (0,) * (4 - len(numbers))
    pre = match.group(2) or ""
    # A pre-release sorts before its release: 1.2.0-rc1 < 1.2.0.
    return numbers, 0 if pre else 1, pre


class ReleaseOrder:
    """Decides whether one release is later than another (see the module docstring)."""

    def __init__(self, first_seen: Mapping[str, dt.datetime]) -> None:
        self.first_seen = first_seen

    def newer(self, a: str, b: str, *, since: dt.datetime) -> bool:
        """Is `a` later than `b`? `since` dates releases that `first_seen` lacks."""
        if a == b or a == "":
            return False
        if b == "":
            return True
        key_a, key_b = _version_key(a), _version_key(b)
        if key_a is not None and key_b is not None:
            return key_a > key_b
        seen_a, seen_b = self.first_seen.get(a), self.first_seen.get(b)
        if seen_a is None:
            return True
        if seen_b is None:
            return seen_a > since
        return seen_a > seen_b


def _regresses(state: IssueState, release: str, order: ReleaseOrder) -> bool:
    threshold = state.resolved_in_release
    since = state.resolved_at
    if state.resolve_mode == "next_release":
        return order.newer(release, threshold, since=since)
    if state.resolve_mode == "in_release":
        return release == threshold or order.newer(release, threshold, since=since)
    # "now": anything not older than the release current at resolution time
    if release == threshold:
        return True
    if release == "":
        return False
    return not order.newer(threshold, release, since=since)


def evaluate(state: IssueState, seen_after: list[ReleaseSeen], order: ReleaseOrder) -> Effective:
    """The status to show. `seen_after` holds the events after `resolved_at` (resolved
    issues) or after `ignored_at` (ignored issues), per release."""
    if state.status == "resolved":
        regressing = [s for s in seen_after if _regresses(state, s.release, order)]
        if regressing:
            first = min(regressing, key=lambda s: s.first_ts)
            return Effective(
                "regressed",
                regressed_at=first.first_ts,
                regressed_release=first.release,
                events_since=sum(s.events for s in regressing),
            )
        return Effective("resolved")
    if state.status == "ignored":
        since = sum(s.events for s in seen_after)
        if state.ignore_until_count and since > state.ignore_until_count:
            return Effective("unresolved", events_since=since)
        return Effective("ignored", events_since=since)
    return Effective(state.status)


def apply_action(
    state: IssueState,
    action: Action,
    *,
    now: dt.datetime,
    version: int,
    issue_release: str,
    site_release: str,
) -> tuple[IssueState, dict[str, str | int]]:
    """The new state after `action` and the history detail to record.

    `issue_release` is the latest release the issue was seen in, `site_release` the
    site's latest release (the "current" one for resolve-in-next-release).
    """
    new = msgspec.structs.replace(state, version=version)
    detail: dict[str, str | int] = {}
    match action:
        case Resolve(release=release):
            new.status = "resolved"
            new.resolved_at = now
            new.resolve_mode = "in_release" if release else "now"
            new.resolved_in_release = release or issue_release
            detail = {"release": new.resolved_in_release, "mode": new.resolve_mode}
        case ResolveNextRelease():
            new.status = "resolved"
            new.resolved_at = now
            new.resolve_mode = "next_release"
            new.resolved_in_release = site_release
            detail = {"after_release": site_release, "mode": "next_release"}
        case Ignore(until_count=count):
            new.status = "ignored"
            new.ignored_at = now
            new.ignore_until_count = max(0, count)
            detail = {"until_count": new.ignore_until_count}
        case Reopen():
            new.status = "unresolved"
        case Assign(assignee=assignee):
            new.assignee = assignee.strip()
            detail = {"assignee": new.assignee}
        case Comment(text=text):
            detail = {"text": text}
    return new, detail
