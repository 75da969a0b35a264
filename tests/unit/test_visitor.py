"""Visitor ids: keyed, daily, bridged across midnight for a live session."""

from __future__ import annotations

from app.ingest.visitor import SESSION_IDLE_MS, SessionBridge, new_salt, utc_day, visitor_hash

UA = "Mozilla/5.0 Chrome/131"


def test_hash_depends_on_salt_site_ip_and_agent() -> None:
    salt = new_salt()
    base = visitor_hash(salt, "s1", "81.2.69.160", UA)
    assert base == visitor_hash(salt, "s1", "81.2.69.160", UA)
    assert 0 < base < 2**64
    assert base != visitor_hash(new_salt(), "s1", "81.2.69.160", UA)
    assert base != visitor_hash(salt, "s2", "81.2.69.160", UA)
    assert base != visitor_hash(salt, "s1", "81.2.69.161", UA)
    assert base != visitor_hash(salt, "s1", "81.2.69.160", UA + "x")


def test_utc_day_boundaries() -> None:
    assert utc_day(0) == 0
    assert utc_day(86_400_000 - 1) == 0
    assert utc_day(86_400_000) == 1


def test_bridge_keeps_a_session_on_its_first_visitor_id() -> None:
    bridge = SessionBridge()
    before_midnight = 86_400_000 - 1000
    assert bridge.visitor_for("s1", "sid", 111, before_midnight) == 111
    # After midnight the salt changed, so the computed id is new; the session keeps its own.
    assert bridge.visitor_for("s1", "sid", 222, before_midnight + 60_000) == 111
    # Another session of the same person after midnight gets the new id.
    assert bridge.visitor_for("s1", "sid-2", 222, before_midnight + 60_000) == 222


def test_bridge_forgets_idle_sessions() -> None:
    bridge = SessionBridge()
    assert bridge.visitor_for("s1", "sid", 1, 0) == 1
    assert bridge.visitor_for("s1", "sid", 2, SESSION_IDLE_MS + 1) == 2
    assert bridge.visitor_for("s1", "other", 3, 10 * SESSION_IDLE_MS) == 3
    assert len(bridge) == 1  # the idle ones were pruned


def test_bridge_is_bounded() -> None:
    bridge = SessionBridge(max_sessions=100)
    for i in range(1000):
        bridge.visitor_for("s1", f"sid-{i}", i, 1000 + i)
    assert len(bridge) <= 100


MINUTE = 60_000


def test_a_gap_over_30_minutes_starts_a_new_session() -> None:
    bridge = SessionBridge()
    state = bridge.session("s1", "sid", 7, 0, 0)
    assert state.place(0, 7) == (0, 0)
    assert state.place(29 * MINUTE, 7) == (0, 0)
    # 30 minutes after the last event is still the same session; 31 is not.
    assert state.place(59 * MINUTE, 7) == (0, 0)
    assert state.place(90 * MINUTE, 8) == (1, 90 * MINUTE)
    assert state.visitor_id == 8
    # A late straggler from before stays in the running session.
    assert state.place(10 * MINUTE, 8) == (1, 90 * MINUTE)


def test_restored_sessions_continue() -> None:
    bridge = SessionBridge()
    bridge.restore([("s1", "sid", 42, 2, 1000, 5 * MINUTE)], now_ms=6 * MINUTE)
    state = bridge.session("s1", "sid", 99, 6 * MINUTE, 6 * MINUTE)
    assert state.visitor_id == 42
    assert state.place(6 * MINUTE, 99) == (2, 1000)


def test_the_bridge_expires_in_order_of_the_last_request() -> None:
    bridge = SessionBridge(max_sessions=3)
    for n, sid in enumerate(["a", "b", "c"]):
        bridge.visitor_for("s1", sid, n, 1000 + n)
    bridge.visitor_for("s1", "a", 9, 2000)  # "a" seen again: now the most recent
    bridge.visitor_for("s1", "d", 4, 2001)  # over the cap: the least recently seen goes
    assert len(bridge) == 3
    assert bridge.visitor_for("s1", "a", 99, 2002) == 0  # kept, with its first visitor id
    assert bridge.visitor_for("s1", "b", 99, 2003) == 99  # "b" was dropped: a new session


def test_session_state_is_not_tracked_by_the_garbage_collector() -> None:
    import gc

    bridge = SessionBridge()
    state = bridge.session("s1", "sid", 1, 0, 0)
    assert not gc.is_tracked(state)
