"""Login sessions of the dashboard: an HMAC-signed cookie that any process can verify.

`POST /login` with a site key and that site's API token sets the cookie `beacon_session`
(HttpOnly, SameSite=Strict). Its value is `base64url(payload).base64url(HMAC-SHA256)`;
the payload names the sites of the session, each with the SHA-256 of the API token it
was opened with, a CSRF token, and an expiry. Nothing is kept per session on the
server, so a session survives restarts and is valid on every process that serves the
dashboard: the HMAC key lives in the store (`web_secrets`, sql/060), made once by the
first process that needs it (the earliest proposal wins, as for salts).

A site of a session stays usable only while the token it was opened with is valid
(checked against the site registry on every request), so revoking that token ends the
sessions opened with it. Limits: a session cannot be ended server-side before its
expiry except by revoking the token; logout clears the cookie in that browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import msgspec

from app.store.client import Store

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "LoginSession",
    "SessionCodec",
    "load_secret",
]

COOKIE = "beacon_session"
SESSION_SECONDS = 14 * 86_400
#: Sites one browser session may hold (the cookie must stay well under 4 KB).
MAX_SITES = 20


class LoginSession(msgspec.Struct, frozen=True):
    #: site key -> SHA-256 of the API token the site was opened with
    sites: dict[str, str]
    csrf: str
    expires: int

    def with_site(self, site: str, token_hash: str) -> LoginSession:
        sites = {k: v for k, v in self.sites.items() if k != site}
        kept = dict(list(sites.items())[-(MAX_SITES - 1) :])
        return LoginSession({**kept, site: token_hash}, self.csrf, self.expires)


def new_session(site: str, token_hash: str, now: float | None = None) -> LoginSession:
    now = time.time() if now is None else now
    return LoginSession({site: token_hash}, secrets.token_urlsafe(24), int(now) + SESSION_SECONDS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(LoginSession)


class SessionCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, b"beacon-session-v1." + payload, hashlib.sha256).digest()

    def encode(self, session: LoginSession) -> str:
        payload = _encoder.encode(session)
        return _b64(payload) + "." + _b64(self._sign(payload))

    def decode(self, value: str, now: float | None = None) -> LoginSession | None:
        """The session in a cookie value, or None if it is forged, garbled or expired."""
        head, sep, tail = value.partition(".")
        if not sep or len(value) > 8192:
            return None
        try:
            payload, signature = _unb64(head), _unb64(tail)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            session = _decoder.decode(payload)
        except msgspec.DecodeError:
            return None
        if session.expires <= (time.time() if now is None else now):
            return None
        return session


def load_secret(store: Store) -> bytes:
    """The cookie-signing key, proposing one if the store has none."""
    table = store.table("web_secrets")
    query = f"SELECT secret FROM {table} WHERE name = 'session' ORDER BY created_at, secret LIMIT 1"
    rows = store.rows(query)
    if not rows:
        store.command(
            f"INSERT INTO {table} (name, secret, created_at) VALUES "
            "('session', {secret:String}, now64(6))",
            {"secret": secrets.token_hex(32)},
        )
        rows = store.rows(query)
    return bytes.fromhex(rows[0][0])
