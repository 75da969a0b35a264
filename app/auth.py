"""Bearer-token access to one site's data.

A token belongs to one site. No or an unknown token is 401 (with
`WWW-Authenticate: Bearer`); a valid token used on another site's path is 403, also when
that site does not exist, so a token holder learns nothing about other site keys.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app.ingest.site import SiteRegistry

__all__ = ["require_site_token", "site_of_request"]


def site_of_request(registry: SiteRegistry, authorization: str | None, site: str) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            "send the site's API token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    owner = registry.site_of_token(token.strip())
    if owner is None:
        raise NotAuthorizedException(
            "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"}
        )
    if owner != site:
        raise PermissionDeniedException("this API token is not valid for that site")
    return owner


def require_site_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Litestar guard for routes with a `{site:str}` path parameter."""
    registry: SiteRegistry = connection.app.state.runtime.registry
    site_of_request(
        registry, connection.headers.get("authorization"), connection.path_params["site"]
    )
