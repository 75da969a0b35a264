"""Every Redis key Beacon uses, named in one place.

Keys that one Lua script or one MULTI touches together share a hash tag (`{…}`), so the
layout also works on Redis Cluster: the stream and its in-flight batch manifests live in
the `{stream}` slot; everything about one site (rate buckets, session state, realtime
counters, cached answers) lives in that site's slot.
"""

from __future__ import annotations

__all__ = ["GROUP", "Keys"]

GROUP = "writers"
"""The one consumer group of the writers (trimming assumes there is only one)."""


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stream = f"{prefix}:{{stream}}"
        self.inflight = f"{prefix}:{{stream}}:inflight"
        self.registry = f"{prefix}:registry"
        self.registry_version = f"{prefix}:registry:version"

    def salt(self, day: int) -> str:
        return f"{self.prefix}:salt:{day}"

    def _site(self, site_id: str) -> str:
        return f"{self.prefix}:{{{site_id}}}"

    def site_bucket(self, site_id: str) -> str:
        return self._site(site_id) + ":rate"

    def ip_bucket(self, site_id: str, ip_hash: str) -> str:
        return f"{self._site(site_id)}:ip:{ip_hash}"

    def session(self, site_id: str, sid: str) -> str:
        return f"{self._site(site_id)}:s:{sid}"

    def visitors_minute(self, site_id: str, minute: int) -> str:
        return f"{self._site(site_id)}:rt:{minute}"

    def query_cache(self, site_id: str, digest: str) -> str:
        return f"{self._site(site_id)}:qc:{digest}"

    def live(self, site_id: str) -> str:
        """Pub/sub channel of the site's live snapshots (app/alerts/live.py)."""
        return f"{self._site(site_id)}:live"
