"""Access to one site's data: an API token, a dashboard login session, or a share key.

- `Authorization: Bearer <token>`: the site's API token, full access.
- The dashboard's session cookie (`app/web/session.py`), for the sites it was opened
  for: full access, but a state-changing request (anything but GET/HEAD) must carry the
  session's CSRF token in `X-CSRF-Token` (the page sends it; another site cannot read it).
- `Authorization: Share <key>`: a shared link's key (`app/web/shares.py`), read-only:
  GET/HEAD only, and not on routes that opt out (`opt={"share": False}`: the raw export).

No or an unknown credential is 401 (with `WWW-Authenticate: Bearer`); a valid one used on
another site's path is 403, also when that site does not exist, so a credential holder
learns nothing about other site keys. A valid API token wins over a cookie.
"""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app.ingest.site import SiteRegistry

__all__ = [
    "CSRF_HEADER",
    "SAFE_METHODS",
    "Access",
    "access_of",
    "cookie_value",
    "require_site_token",
    "site_of_request",
]

SAFE_METHODS = frozenset({"GET", "HEAD"})
CSRF_HEADER = "x-csrf-token"
SESSION_COOKIE = "beacon_session"  # app.web.session.COOKIE (not imported: no cycle)


class Access(msgspec.Struct, frozen=True):
    site: str
    via: Literal["token", "session", "share"]
    csrf: str = ""


def _unauthorized(message: str) -> NotAuthorizedException:
    return NotAuthorizedException(message, headers={"WWW-Authenticate": "Bearer"})


def site_of_request(registry: SiteRegistry, authorization: str | None, site: str) -> str:
    """The site of a bearer token (401/403 otherwise)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send the site's API token as 'Authorization: Bearer <token>'")
    owner = registry.site_of_token(token.strip())
    if owner is None:
        raise _unauthorized("unknown or revoked API token")
    if owner != site:
        raise PermissionDeniedException("this API token is not valid for that site")
    return owner


def cookie_value(header: str | None, name: str) -> str | None:
    if not header:
        return None
    try:
        jar: SimpleCookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def access_of(runtime: Any, *, authorization: str | None, cookie: str | None, site: str) -> Access:
    """Who may read `site` with these headers; raises 401/403 otherwise."""
    registry: SiteRegistry = runtime.registry
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() == "share" and credential.strip():
        shares = getattr(runtime, "shares", None)
        owner = shares.site_of_key(credential.strip()) if shares is not None else None
        if owner is None:
            raise _unauthorized("unknown or revoked share key")
        if owner != site:
            raise PermissionDeniedException("this share key is not valid for that site")
        return Access(site, "share")
    if authorization:
        return Access(site_of_request(registry, authorization, site), "token")
    codec = getattr(runtime, "session_codec", None)
    value = cookie_value(cookie, SESSION_COOKIE) if codec is not None else None
    session = codec.decode(value) if value else None
    if session is not None:
        token_hash = session.sites.get(site)
        if token_hash is not None and registry.site_of_token_hash(token_hash) == site:
            return Access(site, "session", session.csrf)
        if any(registry.site_of_token_hash(h) == s for s, h in session.sites.items()):
            raise PermissionDeniedException("this dashboard session is not open for that site")
    raise _unauthorized(
        "send the site's API token as 'Authorization: Bearer <token>' (or log in at /login)"
    )


def require_site_token(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Litestar guard for routes with a `{site:str}` path parameter."""
    access = access_of(
        connection.app.state.runtime,
        authorization=connection.headers.get("authorization"),
        cookie=connection.headers.get("cookie"),
        site=connection.path_params["site"],
    )
    method = connection.scope["method"]
    if access.via == "share":
        if method not in SAFE_METHODS:
            raise PermissionDeniedException("a shared link is read-only")
        if handler.opt.get("share") is False:
            raise PermissionDeniedException("a shared link does not open this endpoint")
    elif access.via == "session" and method not in SAFE_METHODS:
        sent = connection.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), access.csrf.encode()):
            raise PermissionDeniedException(
                "a change made with the dashboard's session cookie needs its CSRF token "
                "in the X-CSRF-Token header"
            )
