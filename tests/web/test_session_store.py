"""Login-session cookies and share keys, against the embedded store."""

from __future__ import annotations

import time

from app.store.client import Store
from app.web.session import LoginSession, SessionCodec, load_secret, new_session
from app.web.shares import ShareRegistry, ShareStore


def test_the_signing_key_is_made_once_and_read_back_by_every_process(store: Store) -> None:
    first = load_secret(store)
    assert len(first) == 32
    # A restarted process (or another worker on the same ClickHouse) reads the same key,
    # so a cookie signed before still verifies.
    cookie = SessionCodec(first).encode(new_session("s_a", "h" * 64))
    again = load_secret(store)
    assert again == first
    assert SessionCodec(again).decode(cookie) is not None


def test_a_cookie_verifies_only_unchanged_unexpired_and_with_the_same_key() -> None:
    codec = SessionCodec(b"k" * 32)
    session = new_session("s_a", "h" * 64, now=1_000_000)
    cookie = codec.encode(session)
    assert codec.decode(cookie, now=1_000_001) == session
    assert codec.decode(cookie, now=session.expires) is None  # expired
    assert SessionCodec(b"x" * 32).decode(cookie, now=1_000_001) is None  # another key
    head, _, tail = cookie.partition(".")
    forged = LoginSession({"s_b": "h" * 64}, session.csrf, session.expires)
    forged_head = SessionCodec(b"k" * 32).encode(forged).partition(".")[0]
    assert codec.decode(forged_head + "." + tail, now=1_000_001) is None  # other payload
    for garbled in ("", ".", "abc", head, head + ".", "!!." + tail, cookie + "x"):
        assert codec.decode(garbled, now=1_000_001) is None


def test_a_session_holds_several_sites_and_keeps_its_csrf_token() -> None:
    session = new_session("s_a", "ha", now=time.time())
    more = session.with_site("s_b", "hb").with_site("s_a", "ha2")
    assert more.sites == {"s_b": "hb", "s_a": "ha2"}
    assert more.csrf == session.csrf and more.expires == session.expires
    many = session
    for n in range(40):
        many = many.with_site(f"s_{n}", "h")
    assert len(many.sites) == 20 and "s_39" in many.sites  # the cookie stays small


def test_share_keys_are_stored_hashed_listed_and_revoked(store: Store) -> None:
    shares = ShareStore(store)
    record, key = shares.add("s_a", "for the board")
    other, _ = shares.add("s_b")
    assert key.startswith("sk_") and record.key_id.startswith("sh_")
    stored = store.rows(f"SELECT key_hash FROM {store.table('share_keys')}")
    assert all(key not in row[0] for row in stored)  # only the hash is kept
    registry = ShareRegistry()
    registry.replace(shares.active())
    assert registry.site_of_key(key) == "s_a"
    assert registry.site_of_key(key + "x") is None
    assert [k.key_id for k in shares.listed("s_a")] == [record.key_id]
    assert {k.key_id for k in shares.listed()} == {record.key_id, other.key_id}
    assert shares.listed("s_a")[0].label == "for the board"
    revoked = shares.revoke(record.key_id)
    assert revoked.revoked and revoked.site_id == "s_a"
    registry.replace(shares.active())
    assert registry.site_of_key(key) is None
    assert shares.listed("s_a")[0].revoked
