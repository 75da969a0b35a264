"""Visitors and sessions without cookies.

Visitor id: a keyed 64-bit hash of (site, IP, user agent). Like Plausible, the key is a
secret salt that rotates every UTC day and is deleted two days later
(`sql/003_salts.sql`), so an id cannot be linked back to an IP address once its salt is
gone, and the same person gets a new id every day. The raw IP is used here and for the
country lookup, and never stored or logged.

Sessions: the snippet's session id (`sid`) is cut again here whenever two consecutive
events of it are more than 30 minutes apart (DESIGN §6); each part gets a sequence
number, and every event is stamped with (`session_seq`, `session_start`), so session
metrics can be rolled up by a stable key without scanning events.

`SessionBridge` keeps that state per (site, sid) for 30 minutes after the session's last
event, in the order of the last request, so that expiry is a few pops per request. It
is also the previous-day bridge: a session active across midnight keeps the visitor id
it started with, although the salt changed. After a restart the state is reloaded from
the last half hour of stored events (`restore`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Iterable

import msgspec

__all__ = [
    "SESSION_IDLE_MS",
    "SessionBridge",
    "SessionState",
    "new_salt",
    "utc_day",
    "visitor_hash",
]

SESSION_IDLE_MS = 30 * 60 * 1000
_DAY_MS = 86_400_000


def utc_day(epoch_ms: int) -> int:
    """Days since the Unix epoch (UTC) of a millisecond timestamp."""
    return epoch_ms // _DAY_MS


def new_salt() -> bytes:
    return secrets.token_bytes(32)


def visitor_hash(salt: bytes, site_id: str, ip: str, user_agent: str) -> int:
    """64-bit visitor id; fits ClickHouse UInt64."""
    digest = hashlib.blake2b(
        f"{site_id}\x00{ip}\x00{user_agent}".encode("utf-8", "surrogatepass"),
        digest_size=8,
        key=salt,
    ).digest()
    return int.from_bytes(digest, "big")


class SessionState(msgspec.Struct, gc=False):
    """One (site, sid): its visitor, and the part of it that is running now.

    Not tracked by Python's garbage collector (`gc=False`: it holds only numbers): a
    busy server keeps hundreds of thousands of these, and a full collection would walk
    every one of them, on the event loop, to free nothing."""

    visitor_id: int
    seq: int
    start_ms: int
    last_ms: int
    seen_ms: int

    def place(self, ts_ms: int, computed_visitor: int) -> tuple[int, int]:
        """(session_seq, session_start_ms) of an event at `ts_ms`.

        An event more than 30 minutes after the session's last one starts a new session
        (with the visitor id computed today). A late event from before the running
        session's start stays in it: the protocol sends events in order, and a late
        straggler is better counted than invented as a session of its own.
        """
        if ts_ms - self.last_ms > SESSION_IDLE_MS:
            self.seq += 1
            self.start_ms = ts_ms
            self.visitor_id = computed_visitor
        if ts_ms > self.last_ms:
            self.last_ms = ts_ms
        return self.seq, self.start_ms


class SessionBridge:
    """Session state per (site, sid), kept for `idle_ms` after its last request.

    An `OrderedDict` kept in order of the last request (a request moves its session to
    the end), so expiry pops idle sessions from the front: a few per request, never a
    pass over all of them, and at `max_sessions` the least recently seen go first. (A
    plain dict would not do: popping its first entries leaves holes that every later
    look at its front walks past until the next resize.)"""

    def __init__(self, *, idle_ms: int = SESSION_IDLE_MS, max_sessions: int = 500_000) -> None:
        self._idle_ms = idle_ms
        self._max_sessions = max_sessions
        self._sessions: OrderedDict[tuple[str, str], SessionState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def session(
        self, site_id: str, sid: str, computed_visitor: int, first_ts_ms: int, now_ms: int
    ) -> SessionState:
        """The live state of (site, sid); a new session starting at `first_ts_ms` if none."""
        sessions = self._sessions
        key = (site_id, sid)
        state = sessions.get(key)
        if state is None:
            state = sessions[key] = SessionState(
                computed_visitor, 0, first_ts_ms, first_ts_ms, now_ms
            )
        else:
            sessions.move_to_end(key)
        state.seen_ms = now_ms
        self._expire(now_ms)
        return state

    def visitor_for(self, site_id: str, sid: str, computed: int, now_ms: int) -> int:
        """The visitor id of the session running at `now_ms` for an event at `now_ms`."""
        state = self.session(site_id, sid, computed, now_ms, now_ms)
        state.place(now_ms, computed)
        return state.visitor_id

    def restore(self, rows: Iterable[tuple[str, str, int, int, int, int]], now_ms: int) -> None:
        """Reload (site, sid, visitor, seq, start_ms, last_ms) rows of recent sessions."""
        for site_id, sid, visitor_id, seq, start_ms, last_ms in rows:
            self._sessions[(site_id, sid)] = SessionState(
                visitor_id, seq, start_ms, last_ms, now_ms
            )
            self._sessions.move_to_end((site_id, sid))

    def _expire(self, now_ms: int) -> None:
        """Drop the sessions idle since before `idle_ms` ago, and the least recently seen
        beyond `max_sessions`: all at the front of the dict."""
        sessions = self._sessions
        horizon = now_ms - self._idle_ms
        while sessions:
            oldest = sessions[next(iter(sessions))]  # O(1): the order's linked list
            if oldest.seen_ms >= horizon and len(sessions) <= self._max_sessions:
                return
            sessions.popitem(last=False)
