"""Country of a request: a trusted CDN header when configured, else an offline IP database.

The header (e.g. Cloudflare's `CF-IPCountry`, named by `BEACON_COUNTRY_HEADER`) wins
because the CDN saw the real client; its value is accepted only when it is a two-letter
ISO code (`XX`/`T1` — unknown and Tor — count as no country). Otherwise the client IP is
looked up in geoip2fast's bundled database (IPv4 and IPv6, no download at run time).
Private, loopback and unknown addresses have no country: "".
"""

from __future__ import annotations

from functools import lru_cache

from geoip2fast import GeoIP2Fast

__all__ = ["IpCountry", "country_from_header"]

_NOT_A_COUNTRY = frozenset({"XX", "T1", "ZZ", "--", "A1", "A2", "O1"})


def country_from_header(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or code in _NOT_A_COUNTRY:
        return ""
    return code


class IpCountry:
    """IP → ISO country code, with a cache in front of the database lookup (~8 µs)."""

    def __init__(self) -> None:
        self._db = GeoIP2Fast(verbose=False, geoip2fast_data_file="geoip2fast-ipv6.dat.gz")
        self.lookup = lru_cache(maxsize=65_536)(self._lookup)

    def _lookup(self, ip: str) -> str:
        if not ip:
            return ""
        try:
            result = self._db.lookup(ip)
        except Exception:  # the database raises on malformed addresses
            return ""
        return country_from_header(result.country_code or "")
