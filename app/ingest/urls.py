"""URL and text normalization with PII scrub (DESIGN §4).

- `normalize_url`: a page URL as stored — lower-case host without `www.`, path without
  a trailing slash, the query without secrets (e-mail, tokens, passwords, auth codes …),
  without campaign parameters (kept apart as `Utm`) and with its keys sorted, the fragment
  kept only when it is a route (`#/…`, `#!/…`) so that hash-routed SPAs keep their pages.
- `referrer_url`: scheme, host and path only — a referrer's query string is someone
  else's URL and often carries search terms or tokens. Also used for error file and
  request URLs.
- `scrub_text`: e-mail addresses, bearer/JWT tokens, long digit runs (card and phone
  numbers) and `secret=value` pairs removed from free text (messages, stacks, titles).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec

__all__ = ["PageUrl", "Utm", "normalize_url", "referrer_url", "scrub_text"]

SECRET_KEYS = frozenset(
    {
        "email", "e-mail", "mail", "token", "access_token", "id_token", "refresh_token",
        "auth", "authorization", "code", "password", "pass", "passwd", "pwd", "secret",
        "client_secret", "api_key", "apikey", "key", "jwt", "session", "sessionid",
        "session_id", "sid", "signature", "sig", "otp", "ssn", "phone", "tel",
    }
)  # fmt: skip
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[\w.~+/=-]{8,}")
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|token|access_token|api_key|apikey|secret|auth)=[^&\s\"']+"
)
_LONG_DIGITS = re.compile(r"(?<![\w.])\d(?:[ -]?\d){8,}(?![\w.])")


class Utm(msgspec.Struct, frozen=True, gc=False):
    source: str = ""
    medium: str = ""
    campaign: str = ""
    term: str = ""
    content: str = ""


class PageUrl(msgspec.Struct, frozen=True, gc=False):
    url: str
    host: str
    path: str
    query: str
    utm: Utm


def scrub_text(text: str) -> str:
    if not text:
        return text
    text = _EMAIL.sub("<email>", text)
    text = _JWT.sub("<token>", text)
    text = _BEARER.sub("Bearer <token>", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}=<redacted>", text)
    return _LONG_DIGITS.sub("<number>", text)


def _host(netloc_host: str | None) -> str:
    host = (netloc_host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _path(path: str) -> str:
    path = scrub_text(path) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


@lru_cache(maxsize=65_536)
def normalize_url(url: str) -> PageUrl:
    try:
        parts = urlsplit(url.strip())
        host = _host(parts.hostname)
    except ValueError:
        return PageUrl(url="", host="", path="", query="", utm=Utm())
    if not url:
        return PageUrl(url="", host="", path="", query="", utm=Utm())
    utm: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        name = key.lower()
        if name in UTM_KEYS:
            utm[name[4:]] = scrub_text(value)[:256]
        elif name in ("ref", "source") and "source" not in utm and value:
            utm["source"] = scrub_text(value)[:256]
        elif name not in SECRET_KEYS and not _EMAIL.search(value):
            kept.append((key, scrub_text(value)))
    kept.sort()
    query = urlencode(kept)
    path = _path(parts.path)
    fragment = parts.fragment
    if fragment.startswith(("/", "!/")):
        path = f"{path.rstrip('/')}/#{_path(fragment)}" if path != "/" else f"/#{_path(fragment)}"
    scheme = parts.scheme.lower() or "https"
    base = f"{scheme}://{host}{path}" if host else path
    full = base + (f"?{query}" if query else "")
    return PageUrl(url=full, host=host, path=path, query=query, utm=Utm(**utm))


@lru_cache(maxsize=65_536)
def referrer_url(referrer: str) -> str:
    if not referrer:
        return ""
    try:
        parts = urlsplit(referrer.strip())
        host = _host(parts.hostname)
    except ValueError:
        return ""
    if not host:
        # android-app://…, about:blank and other schemes without a host
        return parts.scheme.lower() + ":" if parts.scheme else ""
    return f"{parts.scheme.lower()}://{host}{_path(parts.path) if parts.path else ''}"
