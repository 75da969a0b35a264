"""Sites, tokens and salts in the store."""

from __future__ import annotations

import time

import pytest

from app.ingest.site import SiteRegistry
from app.ingest.visitor import utc_day
from app.store.client import Store
from app.store.sites import SiteStore, hash_token


def test_add_site_and_token_round_trip(store: Store) -> None:
    sites = SiteStore(store)
    site, token = sites.add("Example.test", ["https://Example.test/"])
    assert site.domain == "example.test"
    assert site.origins == ("https://example.test",)
    assert sites.get(site.site_id) == site
    assert sites.token_sites() == {hash_token(token): site.site_id}
    raw_tokens = store.rows(f"SELECT token_hash FROM {store.table('tokens')}")
    assert token not in str(raw_tokens)


def test_origins_can_be_replaced(store: Store) -> None:
    sites = SiteStore(store)
    site, _ = sites.add("a.test", [])
    sites.set_origins(site.site_id, ["https://a.test", "https://www.a.test"])
    assert sites.get(site.site_id).origins == ("https://a.test", "https://www.a.test")  # type: ignore[union-attr]


@pytest.mark.parametrize("origin", ["example.test", "https://a.test/path", "://x"])
def test_bad_origins_are_refused(store: Store, origin: str) -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        SiteStore(store).add("a.test", [origin])


def test_salt_is_stable_per_day_and_differs_between_days(store: Store) -> None:
    sites = SiteStore(store)
    today = utc_day(int(time.time() * 1000))
    assert sites.salt_for(today) == sites.salt_for(today)
    assert sites.salt_for(today) != sites.salt_for(today + 1)
    assert len(sites.salt_for(today)) == 32


def test_registry_checks_origins_and_tokens(store: Store) -> None:
    sites = SiteStore(store)
    closed, token = sites.add("closed.test", ["https://closed.test"])
    open_site, _ = sites.add("open.test", [])
    registry = SiteRegistry()
    registry.replace(sites.all(), sites.token_sites())
    assert registry.origin_allowed(closed.site_id, "https://closed.test")
    assert registry.origin_allowed(closed.site_id, "")  # no Origin: not a browser
    assert not registry.origin_allowed(closed.site_id, "https://evil.test")
    assert registry.origin_allowed(open_site.site_id, "https://anything.test")
    assert not registry.origin_allowed("s_missing", "")
    assert registry.site_of_token(token) == closed.site_id
    assert registry.site_of_token("bt_wrong") is None
