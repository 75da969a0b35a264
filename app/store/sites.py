"""Sites, API tokens and salts in ClickHouse: the small mutable tables.

Sites and tokens live in ReplacingMergeTree tables; a change is a new row with a higher
version and readers take the newest row per key (`argMax`). Only a SHA-256 of an API
token is stored; the token is returned once, when it is made. Every row written is also
handed to `on_write` when given (the lifecycle journal, so that a restore of a backup
brings back the sites and tokens made since: app/lifecycle/journal.py).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

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
    #: Days raw events and rollups are kept; 0: the defaults (app/lifecycle/retention.py).
    retention_days: int = 0
    rollup_retention_days: int = 0


RowHook = Callable[[str, dict[str, Any]], None]
"""on_write(table, row): a row just inserted into `sites` or `tokens`."""


def new_site_key() -> str:
    return "s_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def new_token() -> str:
    return "bt_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _version() -> int:
    return time.time_ns()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


_ROW_TYPES: dict[str, dict[str, str]] = {
    "sites": {
        "site_id": "String",
        "domain": "String",
        "origins": "Array(String)",
        "created_at": "DateTime64(3, 'UTC')",
        "deleted": "UInt8",
        "version": "UInt64",
        "retention_days": "UInt32",
        "rollup_retention_days": "UInt32",
    },
    "tokens": {
        "token_hash": "String",
        "site_id": "String",
        "created_at": "DateTime64(3, 'UTC')",
        "revoked": "UInt8",
        "version": "UInt64",
    },
}


def normalize_origin(origin: str) -> str:
    """`https://Example.test/` -> `https://example.test` (scheme://host[:port])."""
    origin = origin.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if not scheme or not sep or not rest or "/" in rest:
        raise ValueError(f"origin {origin!r} is not of the form scheme://host[:port]")
    return f"{scheme.lower()}://{rest.lower()}"


class SiteStore:
    def __init__(self, store: Store, on_write: RowHook | None = None) -> None:
        self._store = store
        self.on_write = on_write

    def add(
        self,
        domain: str,
        origins: Iterable[str],
        *,
        retention_days: int = 0,
        rollup_retention_days: int = 0,
    ) -> tuple[Site, str]:
        """A new site with one API token; returns (site, token)."""
        domain = domain.strip().lower()
        if not domain or len(domain) > 253 or any(c.isspace() for c in domain):
            raise ValueError(f"domain {domain!r} is not a host name")
        site = Site(
            new_site_key(),
            domain,
            tuple(normalize_origin(o) for o in origins),
            retention_days,
            rollup_retention_days,
        )
        self._write_site(site)
        return site, self.add_token(site.site_id)

    def write_row(self, table: str, row: dict[str, Any]) -> None:
        """Insert one row of `sites` or `tokens` as given (also a journal's replay)."""
        columns = _ROW_TYPES[table]
        names = ", ".join(columns)
        values = ", ".join(f"{{{name}:{kind}}}" for name, kind in columns.items())
        self._store.command(
            f"INSERT INTO {self._store.table(table)} ({names}) VALUES ({values})", row
        )

    def _write(self, table: str, row: dict[str, Any]) -> None:
        self.write_row(table, row)
        if self.on_write is not None:
            self.on_write(table, row)

    def _write_site(self, site: Site, *, deleted: bool = False) -> None:
        self._write(
            "sites",
            {
                "site_id": site.site_id,
                "domain": site.domain,
                "origins": list(site.origins),
                "created_at": _now(),
                "deleted": int(deleted),
                "version": _version(),
                "retention_days": site.retention_days,
                "rollup_retention_days": site.rollup_retention_days,
            },
        )

    def set_retention(self, site_id: str, retention_days: int, rollup_retention_days: int) -> Site:
        site = self.get(site_id)
        if site is None:
            raise KeyError(site_id)
        updated = msgspec.structs.replace(
            site, retention_days=retention_days, rollup_retention_days=rollup_retention_days
        )
        self._write_site(updated)
        return updated

    def mark_deleted(self, site_id: str) -> None:
        site = self.get(site_id)
        if site is not None:
            self._write_site(site, deleted=True)

    def set_origins(self, site_id: str, origins: Iterable[str]) -> Site:
        site = self.get(site_id)
        if site is None:
            raise KeyError(site_id)
        updated = msgspec.structs.replace(site, origins=tuple(normalize_origin(o) for o in origins))
        self._write_site(updated)
        return updated

    def add_token(self, site_id: str) -> str:
        token = new_token()
        self._write(
            "tokens",
            {
                "token_hash": hash_token(token),
                "site_id": site_id,
                "created_at": _now(),
                "revoked": 0,
                "version": _version(),
            },
        )
        return token

    def all(self) -> list[Site]:
        rows = self._store.rows(
            "SELECT site_id, argMax(domain, version), argMax(origins, version), "
            "argMax(deleted, version), argMax(retention_days, version), "
            f"argMax(rollup_retention_days, version) FROM {self._store.table('sites')} "
            "GROUP BY site_id ORDER BY site_id"
        )
        return [Site(r[0], r[1], tuple(r[2]), int(r[4]), int(r[5])) for r in rows if not r[3]]

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
