"""Read-only shared links: `/share/{site}?auth=KEY`.

A share key belongs to one site and gives read access to its analytics and issues (GET
only: no triage change, no source-map upload, no raw export). Keys are made by
`beacon share add SITE`, listed by `beacon share list`, and revoked by id with
`beacon share revoke ID`. Only a SHA-256 of a key is stored (`share_keys`, sql/060);
the key is shown once. Each process keeps the active keys in a `ShareRegistry`,
refreshed with the sites (every few seconds) and at once when it changes them itself,
so a revocation made through another process takes effect within one refresh.
"""

from __future__ import annotations

import secrets
import time

import msgspec

from app.store.client import Store
from app.store.sites import hash_token

__all__ = ["ShareKey", "ShareRegistry", "ShareStore", "new_share_key"]


class ShareKey(msgspec.Struct, frozen=True):
    key_id: str
    site_id: str
    label: str = ""
    created_at: str = ""
    revoked: bool = False


def new_share_key() -> str:
    return "sk_" + secrets.token_urlsafe(24)


class ShareStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _write(self, key_id: str, key_hash: str, site_id: str, label: str, revoked: bool) -> None:
        self._store.command(
            f"INSERT INTO {self._store.table('share_keys')} "
            "(key_id, key_hash, site_id, label, created_at, revoked, version) VALUES "
            "({key_id:String}, {key_hash:String}, {site_id:String}, {label:String}, "
            "now64(3), {revoked:UInt8}, {version:UInt64})",
            {
                "key_id": key_id,
                "key_hash": key_hash,
                "site_id": site_id,
                "label": label,
                "revoked": int(revoked),
                "version": time.time_ns(),
            },
        )

    def add(self, site_id: str, label: str = "") -> tuple[ShareKey, str]:
        """A new key for `site_id`: (its record, the key)."""
        if len(label) > 200:
            raise ValueError("label: at most 200 characters")
        key = new_share_key()
        key_id = "sh_" + secrets.token_hex(6)
        self._write(key_id, hash_token(key), site_id, label, revoked=False)
        return ShareKey(key_id, site_id, label), key

    def _rows(self) -> list[tuple[str, str, str, str, str, int]]:
        rows = self._store.rows(
            "SELECT key_id, argMax(key_hash, version), argMax(site_id, version), "
            "argMax(label, version), min(created_at), argMax(revoked, version) "
            f"FROM {self._store.table('share_keys')} GROUP BY key_id ORDER BY min(created_at)"
        )
        return [(r[0], r[1], r[2], r[3], r[4].isoformat(), int(r[5])) for r in rows]

    def listed(self, site_id: str = "") -> list[ShareKey]:
        return [
            ShareKey(key_id, site, label, created, bool(revoked))
            for key_id, _hash, site, label, created, revoked in self._rows()
            if not site_id or site == site_id
        ]

    def active(self) -> dict[str, str]:
        """key hash -> site id, for keys not revoked."""
        return {h: site for _id, h, site, _label, _at, revoked in self._rows() if not revoked}

    def revoke(self, key_id: str) -> ShareKey:
        found = next((row for row in self._rows() if row[0] == key_id), None)
        if found is None:
            raise KeyError(f"no share key with id {key_id!r}")
        _id, key_hash, site, label, created, _revoked = found
        self._write(key_id, key_hash, site, label, revoked=True)
        return ShareKey(key_id, site, label, created, revoked=True)


class ShareRegistry:
    """The active share keys of every site, by hash, for the request path."""

    def __init__(self) -> None:
        self._sites: dict[str, str] = {}

    def replace(self, active: dict[str, str]) -> None:
        self._sites = dict(active)

    def site_of_key(self, key: str) -> str | None:
        return self._sites.get(hash_token(key))
