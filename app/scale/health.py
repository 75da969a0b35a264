"""`/readyz` in scale mode: Redis reachable, the site registry loaded, and the store (for
the writer, which owns one) reachable; with the stream's backlog and the writer's state."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

__all__ = ["scale_readyz"]


@get("/readyz", summary="Redis (and the store, for a writer) are reachable", tags=["operations"])
async def scale_readyz(request: Request) -> Response[dict[str, Any]]:
    runtime = request.app.state.runtime
    services = runtime.scale
    redis_ok = await services.ping()
    store = getattr(runtime, "store", None)
    store_ok = await store.aping() if store is not None else True
    sites_loaded = bool(getattr(runtime, "sites_loaded", True))
    writer = services.writer
    body: dict[str, Any] = {
        "redis": "ok" if redis_ok else "unreachable",
        "store": ("ok" if store_ok else "unreachable") if store is not None else "not opened",
        "sites": len(runtime.registry),
        "sites_loaded": sites_loaded,
        "stream_length": await services.stream_length(),
        "stream_max_entries": services.sink.max_entries,
    }
    if writer is not None:
        body["writer"] = "ok" if writer.healthy else "retrying"
        body["consumer"] = writer.consumer
    ready = redis_ok and store_ok and sites_loaded
    body["status"] = "ok" if ready else "unavailable"
    return Response(body, status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)
