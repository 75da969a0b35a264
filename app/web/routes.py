"""The dashboard's HTTP routes: login, logout, shared links, the page shell, static files.

    GET  /                        to the last site of the session, or to /login
    GET  /login                   the form (site key, API token)
    POST /login                   checks them; sets the session cookie; to /sites/{site}
    POST /logout                  clears the cookie (the form carries the CSRF token)
    GET  /sites/{site}[/…]        the shell of every view of a logged-in site
    GET  /share/{site}[/…]?auth=KEY   the same views, read-only, for a share key
    GET  /static/{name}           the built script, style sheet and icon

Pages carry a strict Content-Security-Policy (scripts and styles from this origin only,
no inline script), `nosniff`, `no-referrer` (a share key in the address never leaks to
another site), and may not be framed. The login form is protected against login CSRF by
a double-submitted nonce (a short-lived cookie and a hidden field). A wrong site key or
token gets the form again with one message for both, revealing nothing else.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from app.auth import cookie_value
from app.runtime import Runtime
from app.store.sites import hash_token
from app.web.assets import Assets
from app.web.pages import bounce_page, login_page, notice_page, shell_page
from app.web.session import COOKIE, SESSION_SECONDS, LoginSession, new_session

__all__ = ["PAGE_HEADERS", "WEB_ROUTES"]

LOGIN_COOKIE = "beacon_login"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
}
WRONG_LOGIN = "That site key and API token do not match. Check both and try again."


def _assets(request: Request[Any, Any, Any]) -> Assets:
    assets: Assets = request.app.state.web_assets
    return assets


def _runtime(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _secure(request: Request[Any, Any, Any]) -> bool:
    """Secure cookies when the browser talks HTTPS (directly or through a TLS proxy)."""
    return (
        request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto", "").lower() == "https"
    )


def _html(
    request: Request[Any, Any, Any],
    text: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
) -> Response[str]:
    if not _assets(request).built:
        text = (
            "The dashboard is not built: run `bash deploy/setup.sh` "
            "(it runs `npm ci && npm run build` in app/web)."
        )
        return Response(text, status_code=HTTP_503_SERVICE_UNAVAILABLE, media_type="text/plain")
    return Response(
        text, status_code=status, media_type="text/html", headers=PAGE_HEADERS, cookies=cookies
    )


def _redirect(to: str, cookies: list[Cookie] | None = None) -> Response[None]:
    return Response(
        None,
        status_code=HTTP_303_SEE_OTHER,
        headers={**PAGE_HEADERS, "Location": to},
        cookies=cookies,
    )


def current_session(request: Request[Any, Any, Any]) -> LoginSession | None:
    """The request's login session with only the sites whose token is still valid."""
    runtime = _runtime(request)
    value = cookie_value(request.headers.get("cookie"), COOKIE)
    session = runtime.session_codec.decode(value) if value else None
    if session is None:
        return None
    valid = {
        site: token_hash
        for site, token_hash in session.sites.items()
        if runtime.registry.site_of_token_hash(token_hash) == site
    }
    return LoginSession(valid, session.csrf, session.expires) if valid else None


def _session_cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Response[None]:
    session = current_session(request)
    if session is None:
        return _redirect("/login")
    return _redirect(f"/sites/{urllib.parse.quote(list(session.sites)[-1], safe='')}")


@get("/login", include_in_schema=False)
async def login_form(request: Request[Any, Any, Any], site: str = "") -> Response[str]:
    nonce = secrets.token_urlsafe(18)
    session = current_session(request)
    page = login_page(
        _assets(request),
        nonce=nonce,
        site=site[:64],
        open_sites=len(session.sites) if session else 0,
    )
    nonce_cookie = Cookie(
        key=LOGIN_COOKIE,
        value=nonce,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return _html(request, page, cookies=[nonce_cookie])


@post("/login", include_in_schema=False, request_max_body_size=16_384)
async def login_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    site = (form.get("site") or [""])[0].strip()[:64]
    token = (form.get("token") or [""])[0].strip()[:200]
    nonce = (form.get("nonce") or [""])[0]
    expected = cookie_value(request.headers.get("cookie"), LOGIN_COOKIE) or ""
    session = current_session(request)
    assets = _assets(request)
    if not nonce or not hmac.compare_digest(nonce.encode(), expected.encode()):
        # A form from another site, or one older than its cookie: show a fresh one.
        return Response(
            None, status_code=HTTP_303_SEE_OTHER, headers={**PAGE_HEADERS, "Location": "/login"}
        )
    runtime = _runtime(request)
    if not site or not token or runtime.registry.site_of_token(token) != site:
        page = login_page(
            assets,
            nonce=nonce,
            site=site,
            error=WRONG_LOGIN,
            open_sites=len(session.sites) if session else 0,
        )
        # 200, as a form shown again is (a 4xx would be a console error in the browser).
        return _html(request, page)
    opened = (
        session.with_site(site, hash_token(token))
        if session is not None
        else new_session(site, hash_token(token))
    )
    value = runtime.session_codec.encode(opened)
    cookies = [
        _session_cookie(request, value, SESSION_SECONDS),
        Cookie(key=LOGIN_COOKIE, value="", max_age=0, path="/login"),
    ]
    return _redirect(f"/sites/{urllib.parse.quote(site, safe='')}", cookies)


@post("/logout", include_in_schema=False, request_max_body_size=4096)
async def logout(request: Request[Any, Any, Any]) -> Response[None]:
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    session = current_session(request)
    sent = (form.get("csrf") or [""])[0]
    if session is not None and not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        return _redirect("/")  # not from our page: keep the session
    return _redirect("/login", [_session_cookie(request, "", 0)])


def _boot(
    request: Request[Any, Any, Any], site: str, session: LoginSession | None
) -> dict[str, Any]:
    """What the page's script starts from: the site, the mode (a login session or a
    shared link), the session's CSRF token and its sites (for the switcher)."""
    runtime = _runtime(request)
    sites = list(session.sites) if session else [site]
    return {
        "mode": "session" if session else "share",
        "site": site,
        "csrf": session.csrf if session else "",
        "sites": [
            {"site": key, "domain": getattr(runtime.registry.get(key), "domain", "")}
            for key in sites
        ],
    }


async def _site_page(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    session = current_session(request)
    if session is None or site not in session.sites:
        if session is None and request.headers.get("sec-fetch-site") == "cross-site":
            return Response(
                bounce_page(), media_type="text/html", headers=PAGE_HEADERS, status_code=200
            )
        return _redirect("/login?" + urllib.parse.urlencode({"site": site}))
    return _html(request, shell_page(_assets(request), _boot(request, site, session)))


@get(["/sites/{site:str}", "/sites/{site:str}/{rest:path}"], include_in_schema=False)
async def site_page(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    return await _site_page(request, site)


@get(["/share/{site:str}", "/share/{site:str}/{rest:path}"], include_in_schema=False)
async def share_page(request: Request[Any, Any, Any], site: str, auth: str = "") -> Response[Any]:
    owner = _runtime(request).shares.site_of_key(auth) if auth else None
    if owner != site:
        page = notice_page(
            _assets(request),
            "Link not valid",
            "This shared link is not valid: it was revoked, or its address is incomplete.",
            None,
        )
        return _html(request, page, status=404)
    return _html(request, shell_page(_assets(request), _boot(request, site, None)))


@get("/static/{name:str}", include_in_schema=False)
async def static_file(request: Request[Any, Any, Any], name: str) -> Response[bytes]:
    asset = _assets(request).files.get(name)
    if asset is None:
        raise NotFoundException(f"no static file {name!r}")
    versioned = request.query_params.get("v") == asset.version
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "public, max-age=31536000, immutable" if versioned else "no-cache",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


WEB_ROUTES = [home, login_form, login_submit, logout, site_page, share_page, static_file]
