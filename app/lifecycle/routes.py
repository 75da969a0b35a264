"""HTTP routes of erasure, under `/api/v1/sites/{site}/` (bearer token of the site).

    DELETE /data?uid=…  or  ?sid=…   erase one person (every session of the uid, or one
                                     session); optional `by` (who asks, logged beside the
                                     token's fingerprint). Answers when it is done: 200
                                     with the log entry.
    GET    /erasures                 the site's erasure log, newest first (`limit`).

Retention, site deletion and backups are the owner's, not a site token's: they are admin
commands (`beacon site update|delete`, `beacon backup`, app/admin.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, delete, get
from litestar.exceptions import ServiceUnavailableException, ValidationException
from litestar.params import Parameter

from app.auth import require_site_token
from app.lifecycle.erasure import list_erasures
from app.runtime import Runtime
from app.store.sites import hash_token

__all__ = ["LIFECYCLE_ROUTES"]

SITE = "/api/v1/sites/{site:str}"
_guarded: dict[str, Any] = {"guards": [require_site_token], "tags": ["lifecycle"]}


def _who(request: Request[Any, Any, Any], by: str | None) -> str:
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    who = f"token:{hash_token(token)[:12]}"
    return f"{who} ({by})" if by else who


@delete(
    SITE + "/data", summary="Erase one person's data (by uid or sid)", status_code=200, **_guarded
)
async def erase_data(
    request: Request[Any, Any, Any],
    site: str,
    uid: Annotated[str | None, Parameter(max_length=128)] = None,
    sid: Annotated[str | None, Parameter(max_length=64)] = None,
    by: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[Any]:
    if bool(uid) == bool(sid):
        raise ValidationException("uid, sid: give exactly one of them")
    runtime: Runtime = request.app.state.runtime
    kind = "uid" if uid else "sid"
    value = uid or sid or ""
    try:
        done = await anyio.to_thread.run_sync(
            lambda: runtime.lifecycle.erase(site, kind, value, by=_who(request, by))
        )
    except RuntimeError as exc:  # the store is away or behind; asking again is safe
        raise ServiceUnavailableException(
            f"the erasure did not finish ({exc}); ask again", headers={"Retry-After": "30"}
        ) from None
    return Response(msgspec.to_builtins(done))


@get(SITE + "/erasures", summary="The site's erasure log", **_guarded)
async def erasures(
    request: Request[Any, Any, Any],
    site: str,
    limit: Annotated[int, Parameter(ge=1, le=10_000)] = 100,
) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    entries = await anyio.to_thread.run_sync(list_erasures, runtime.store, site, limit)
    return Response({"erasures": msgspec.to_builtins(entries)})


LIFECYCLE_ROUTES = [erase_data, erasures]
