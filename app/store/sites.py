"""Sites, API tokens and salts in ClickHouse: the small mutable tables.

Sites and tokens live in ReplacingMergeTree tables; a change is a new row with a higher
version and readers take the newest row per key (`argMax`). Only a SHA-256 of an API
token is stored; the token is returned once, when it is made.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import time
from collections.abc import Iterable

import msgspec

from app.store.client import Store

__all__ = [
    "Site",
    "SiteStore",
    "hash_token",
    "new_site_key",
    "new_token",
]


class Site(msgspec.Struct, frozen=True):
    site_id: str
    domain: str
    origins: tuple[str, ...] = ()


def new_site_key() -> str:
    return "s_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def new_token() -> str:
    return "bt_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _version() -> int:
    return time.time_ns()


def normalize_origin(origin: str) -> str:
    """`https://Example.test/` -> `https://example.test` (scheme://host[:port])."""
    origin = origin.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if not scheme or not sep or not rest or "/" in rest:
        raise ValueError(f"origin {origin!r} is not of the form scheme://host[:port]")
    return f"{scheme.lower()}://{rest.lower()}"


class SiteStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, domain: str, origins: Iterable[str]) -> tuple[Site, str]:
        """A new site with one API token; returns (site, token)."""
        domain = domain.strip().lower()
        if not domain or len(domain) > 253 or any(c.isspace() for c in domain):
            raise ValueError(f"domain {domain!r} is not a host name")
        site = Site(new_site_key(), domain, tuple(normalize_origin(o) for o in origins))
        self._write_site(site)
        return site, self.add_token(site.site_id)

    def _write_site(self, site: Site, *, deleted: bool = False) -> None:
        self._store.command(
            f"INSERT INTO {self._store.table('sites')} "
            "(site_id, domain, origins, created_at, deleted, version) VALUES "
            "({site_id:String}, {domain:String}, {origins:Array(String)}, now64(3), "
            "{deleted:UInt8}, {version:UInt64})",
            {
                "site_id": site.site_id,
                "domain": site.domain,
                "origins": list(site.origins),
                "deleted": int(deleted),
                "version": _version(),
            },
        )

    def set_origins(self, site_id: str, origins: Iterable[str]) -> Site:
        site = self.get(site_id)
        if site is None:
            raise KeyError(site_id)
        updated = Site(site.site_id, site.domain, tuple(normalize_origin(o) for o in origins))
        self._write_site(updated)
        return updated

    def add_token(self, site_id: str) -> str:
        token = new_token()
        self._store.command(
            f"INSERT INTO {self._store.table('tokens')} "
            "(token_hash, site_id, created_at, revoked, version) VALUES "
            "({token_hash:String}, {site_id:String}, now64(3), 0, {version:UInt64})",
            {"token_hash": hash_token(token), "site_id": site_id, "version": _version()},
        )
        return token

    def all(self) -> list[Site]:
        rows = self._store.rows(
            "SELECT site_id, argMax(domain, version), argMax(origins, version), "
            f"argMax(deleted, version) FROM {self._store.table('sites')} "
            "GROUP BY site_id ORDER BY site_id"
        )
        return [Site(r[0], r[1], tuple(r[2])) for r in rows if not r[3]]

    def get(self, site_id: str) -> Site | None:
        return next((s for s in self.all() if s.site_id == site_id), None)

    def token_sites(self) -> dict[str, str]:
        """token hash -> site id, for tokens not revoked."""
        rows = self._store.rows(
            "SELECT token_hash, argMax(site_id, version), argMax(revoked, version) "
            f"FROM {self._store.table('tokens')} GROUP BY token_hash"
        )
        return {r[0]: r[1] for r in rows if not r[2]}

    # -- salts ------------------------------------------------------------------------

    def salt_for(self, day: int) -> bytes:
        """The salt of UTC day `day` (days since epoch), proposing one if there is none.

        Concurrent proposers agree: the earliest stored proposal wins.
        """
        table = self._store.table("salts")
        query = (
            f"SELECT salt FROM {table} WHERE day = {{day:Date}} ORDER BY created_at, salt LIMIT 1"
        )
        date_text = (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()
        rows = self._store.rows(query, {"day": date_text})
        if not rows:
            self._store.command(
                f"INSERT INTO {table} (day, salt, created_at) VALUES "
                "({day:Date}, {salt:String}, now64(6))",
                {"day": date_text, "salt": secrets.token_hex(32)},
            )
            rows = self._store.rows(query, {"day": date_text})
        return bytes.fromhex(rows[0][0])
