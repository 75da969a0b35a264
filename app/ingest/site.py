"""The in-memory view of sites, origins and API tokens that requests are checked against.

Loaded from the store at start-up and refreshed periodically (and at once when this
process adds a site), so the hot path never queries ClickHouse. A request without an
`Origin` header (a server-side or mobile client) is allowed; a browser request from an
origin that is not in the site's list is not. A site with an empty origin list accepts
every origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.store.sites import Site, hash_token

__all__ = ["SiteRegistry"]


class SiteRegistry:
    def __init__(self) -> None:
        self._sites: dict[str, Site] = {}
        self._origins: dict[str, frozenset[str]] = {}
        self._all_origins: frozenset[str] = frozenset()
        self._open_origins = False
        self._tokens: dict[str, str] = {}

    def replace(self, sites: Iterable[Site], token_sites: Mapping[str, str]) -> None:
        sites_by_id = {site.site_id: site for site in sites}
        self._sites = sites_by_id
        self._origins = {sid: frozenset(s.origins) for sid, s in sites_by_id.items()}
        self._all_origins = frozenset(o for s in sites_by_id.values() for o in s.origins)
        self._open_origins = any(not s.origins for s in sites_by_id.values())
        self._tokens = dict(token_sites)

    def add(self, site: Site, token: str | None = None) -> None:
        sites = dict(self._sites)
        sites[site.site_id] = site
        tokens = dict(self._tokens)
        if token is not None:
            tokens[hash_token(token)] = site.site_id
        self.replace(sites.values(), tokens)

    def add_token(self, site_id: str, token: str) -> None:
        self._tokens[hash_token(token)] = site_id

    def get(self, site_id: str) -> Site | None:
        return self._sites.get(site_id)

    def __len__(self) -> int:
        return len(self._sites)

    def site_ids(self) -> list[str]:
        return list(self._sites)

    def origin_allowed(self, site_id: str, origin: str) -> bool:
        allowed = self._origins.get(site_id)
        return allowed is not None and (not origin or not allowed or origin in allowed)

    def known_origin(self, origin: str) -> bool:
        """For CORS preflights, which carry no body and so no site key."""
        return self._open_origins or origin in self._all_origins

    def site_of_token(self, token: str) -> str | None:
        return self._tokens.get(hash_token(token))

    def site_of_token_hash(self, token_hash: str) -> str | None:
        """For dashboard sessions, which keep the hash of the token they were opened with."""
        return self._tokens.get(token_hash)
