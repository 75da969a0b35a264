"""A short-TTL cache of analytics answers in Redis, shared by every writer serving queries.

Dashboards ask the same questions again and again (every viewer, every refresh); for
`query_cache_seconds` the answer is served from Redis instead of running again in
ClickHouse. It wraps the whole ASGI app rather than each route, so new analytics routes
are cached without knowing about it. What is cached: `GET` answers `200` of
`/api/v1/sites/{site}/…` (not the raw export `/events` nor the live stream), up to
`MAX_BODY` bytes, keyed by site, path, query string and `Accept` (JSON and CSV apart).

Access is checked before a cached answer is served (an API token, dashboard session or
share key of the site, by `app.auth.access_of`: every cached path is a GET that a share
key may read); anything else is passed to the app, which answers 401/403.
A cached answer carries `X-Beacon-Cache: hit`. Redis being unavailable only turns the
cache off.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import msgspec
from litestar.exceptions import HTTPException
from redis.exceptions import RedisError

from app.auth import access_of
from app.ingest.routes import Message, Receive, Scope, Send
from app.server import BeaconApp

__all__ = ["CachedAnswer", "QueryCache"]

log = logging.getLogger("beacon.scale")

MAX_BODY = 1024 * 1024
_CACHEABLE = re.compile(r"^/api/v1/sites/([^/]+)/(?!events$|live$)[^?]+$")


class CachedAnswer(msgspec.Struct, frozen=True):
    content_type: bytes
    body: bytes


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


class QueryCache:
    def __init__(self, app: BeaconApp, ttl_seconds: int) -> None:
        self.app = app
        self.ttl_ms = ttl_seconds * 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if self.ttl_ms > 0 and scope["type"] == "http" and scope["method"] == "GET":
            match = _CACHEABLE.match(scope["path"])
        if match is None or not self._authorized(scope, match[1]):
            await self.app(scope, receive, send)
            return
        services = self.app.litestar.state.runtime.scale
        key = services.keys.query_cache(match[1], self._digest(scope))
        try:
            raw = await services.redis.get(key)
        except RedisError as exc:
            log.debug("query cache unavailable", extra={"error": str(exc)})
            await self.app(scope, receive, send)
            return
        if raw is not None:
            await self._replay(send, msgspec.msgpack.decode(raw, type=CachedAnswer))
            return
        await self.app(scope, receive, self._recorder(send, services, key))

    def _authorized(self, scope: Scope, site: str) -> bool:
        try:
            access_of(
                self.app.litestar.state.runtime,
                authorization=_header(scope, b"authorization").decode("latin-1") or None,
                cookie=_header(scope, b"cookie").decode("latin-1") or None,
                site=site,
            )
        except HTTPException:
            return False
        return True

    @staticmethod
    def _digest(scope: Scope) -> str:
        parts = (scope["path"].encode(), scope.get("query_string", b""), _header(scope, b"accept"))
        return hashlib.sha256(b"\x00".join(parts)).hexdigest()[:32]

    @staticmethod
    async def _replay(send: Send, answer: CachedAnswer) -> None:
        headers = [
            (b"content-type", answer.content_type),
            (b"content-length", str(len(answer.body)).encode()),
            (b"x-beacon-cache", b"hit"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _recorder(self, send: Send, services: Any, key: str) -> Send:
        """`send` that also keeps a 200 answer's body and stores it when complete."""
        state: dict[str, Any] = {"keep": False, "type": b"", "chunks": [], "size": 0}

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["keep"] = message["status"] == 200
                state["type"] = _content_type(message.get("headers", []))
            elif message["type"] == "http.response.body" and state["keep"]:
                body = message.get("body", b"")
                state["size"] += len(body)
                state["keep"] = state["size"] <= MAX_BODY
                state["chunks"].append(body)
                if not message.get("more_body", False) and state["keep"]:
                    answer = CachedAnswer(state["type"], b"".join(state["chunks"]))
                    services.calls.fire(
                        "SET", key, msgspec.msgpack.encode(answer), "PX", self.ttl_ms
                    )
            await send(message)

        return record


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name.lower() == b"content-type":
            return bytes(value)
    return b"application/json"
