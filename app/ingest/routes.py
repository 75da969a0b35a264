"""`POST /api/event`: the ingest endpoint, as a bare ASGI callable.

This is the hot path, so it sheds the framework: no routing, dependency injection or
response objects, just read the body, decode it once with a prebuilt msgspec decoder,
run the pipeline, append the rows to the spool (durable before the answer) and answer.
Every other path is served by Litestar (`app/server.py` routes this one path here).

Outcomes: 202 `{"accepted": n}`; 400 with msgspec's message and JSON path; 401 unknown
site; 403 origin not allowed; 405; 413 body too large (also once decoded); 415 content
type or content encoding; 503 with `Retry-After` when the spool is full or cannot be
written; and, with a `Gate` (rate limits: in process, or in Redis with shared session
state in scale mode), 429 with `Retry-After`. A body refused before it was read is drained
first (`app/ingest/body.py`), so clients that write it all before reading get the answer.
CORS is answered from each site's origin list; a preflight (which has no body, hence no
site key) is allowed for an origin that any site lists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import msgspec

from app.buffer.spool import SpoolFull
from app.ingest.body import BodyError, decode_body, drain, encoding_of, read_body
from app.ingest.outcomes import Drop, IngestStats, RejectReason
from app.ingest.pipeline import Lookups, RequestInfo, Work, run_pipeline
from app.ingest.schema import Batch, decode_batch
from app.store.rows import encode_rows

__all__ = ["Gate", "IngestEndpoint", "Refusal", "Sink"]

log = logging.getLogger("beacon.ingest")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_DROP_STATUS = {"unknown_site": 401, "origin_not_allowed": 403}
_JSON = (b"content-type", b"application/json")
_VARY = (b"vary", b"Origin")
_encode = msgspec.json.encode


class Sink(Protocol):
    """Where accepted rows go: the spool (embedded) or the Redis Stream (scale mode)."""

    async def append(self, payload: bytes) -> None:
        """Return once `payload` is durable; raise `SpoolFull` (→ 503) otherwise."""
        ...


class Refusal(msgspec.Struct, frozen=True):
    """A gate's answer to a request it does not let through."""

    status: int
    reason: RejectReason
    message: str
    retry_after: int


class Gate(Protocol):
    """Admission around the pipeline (scale mode: rate limits, shared session state)."""

    async def admit(self, batch: Batch, request: RequestInfo) -> Refusal | None:
        """None lets the batch through; called only for a known site."""
        ...

    def accepted(self, batch: Batch, work: Work) -> None:
        """The batch's rows are about to be appended (queue follow-up writes here)."""
        ...


class IngestEndpoint:
    def __init__(
        self,
        *,
        lookups: Lookups,
        spool: Sink,
        stats: IngestStats,
        max_body_bytes: int,
        country_header: str = "",
        client_ip_header: str = "",
        clock: Callable[[], float] = time.time,
        gate: Gate | None = None,
    ) -> None:
        self._lookups = lookups
        self._spool = spool
        self._gate = gate
        self._stats = stats
        self._max_body = max_body_bytes
        self._country_header = country_header.lower().encode("latin-1")
        self._ip_header = client_ip_header.lower().encode("latin-1")
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = b""
        content_type = b""
        content_length = -1
        user_agent = b""
        country = b""
        forwarded_ip = b""
        content_encoding = b""
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif name == b"user-agent":
                user_agent = value
            elif name == self._country_header:
                country = value
            elif name == self._ip_header:
                forwarded_ip = value
            elif name == b"content-encoding":
                content_encoding = value
        origin_text = origin.decode("latin-1")
        cors = self._cors_headers(origin_text)
        method = scope["method"]
        if method == "OPTIONS":
            await self._preflight(send, origin_text)
            return
        self._stats.requests += 1
        if method != "POST":
            await self._refuse_unread(
                receive, send, "method", 405, "use POST", cors, [(b"allow", b"POST, OPTIONS")]
            )
            return
        media_type = content_type.split(b";", 1)[0].strip().lower()
        if media_type not in (b"text/plain", b"application/json"):
            await self._refuse_unread(
                receive,
                send,
                "content_type",
                415,
                "Content-Type must be text/plain or application/json",
                cors,
            )
            return
        try:
            encoding = encoding_of(content_encoding) if content_encoding else None
        except BodyError as exc:
            await self._refuse_unread(receive, send, "content_encoding", 415, exc.message, cors)
            return
        if content_length > self._max_body:
            await self._refuse_unread(
                receive, send, "too_large", 413, self._too_large_message(), cors
            )
            return
        body, finished = await read_body(receive, self._max_body)
        if body is None:
            if not finished:
                finished = await drain(receive)
            close = [] if finished else [(b"connection", b"close")]
            await self._reject(send, "too_large", 413, self._too_large_message(), cors, close)
            return
        if encoding is not None:
            try:
                body = decode_body(body, encoding, self._max_body)
            except BodyError as exc:
                refused: RejectReason = "too_large" if exc.status == 413 else "invalid"
                await self._reject(send, refused, exc.status, exc.message, cors)
                return
        try:
            batch = decode_batch(body)
        except msgspec.ValidationError as exc:
            await self._reject(send, "invalid", 400, f"invalid batch: {exc}", cors)
            return
        except msgspec.DecodeError as exc:
            await self._reject(send, "invalid", 400, f"malformed JSON: {exc}", cors)
            return
        self._stats.events_received += len(batch.events)
        request = RequestInfo(
            received_at_ms=int(self._clock() * 1000),
            ip=self._client_ip(scope, forwarded_ip),
            user_agent=user_agent.decode("latin-1"),
            origin=origin_text,
            country_header=country.decode("latin-1"),
        )
        if self._gate is not None and self._lookups.sites.get(batch.site) is not None:
            refusal = await self._gate.admit(batch, request)
            if refusal is not None:
                retry = (b"retry-after", str(refusal.retry_after).encode())
                await self._reject(
                    send, refusal.reason, refusal.status, refusal.message, cors, [retry]
                )
                return
        result = run_pipeline(batch, request, self._lookups, self._stats)
        if isinstance(result, Drop):
            status = _DROP_STATUS.get(result.reason)
            if status is not None:
                await self._respond(
                    send, status, {"error": result.reason, "message": result.detail}, cors
                )
            else:
                await self._respond(send, 202, {"accepted": 0}, cors)
            return
        try:
            if self._gate is not None:
                self._gate.accepted(batch, result)
            await self._spool.append(encode_rows(result.rows))
        except SpoolFull as exc:
            reason: RejectReason = getattr(exc, "reason", "spool_full")
            await self._reject(send, reason, 503, str(exc), cors, [(b"retry-after", b"5")])
            return
        except OSError as exc:
            log.error("spool write failed", extra={"error": str(exc), "site_id": batch.site})
            await self._reject(
                send,
                "spool_full",
                503,
                "the spool cannot be written",
                cors,
                [(b"retry-after", b"5")],
            )
            return
        self._stats.events_accepted += len(result.rows)
        await self._respond(send, 202, {"accepted": len(result.rows)}, cors)

    # -- helpers --------------------------------------------------------------------

    def _too_large_message(self) -> str:
        return f"request body is larger than {self._max_body} bytes"

    async def _refuse_unread(
        self,
        receive: Receive,
        send: Send,
        reason: RejectReason,
        status: int,
        message: str,
        cors: list[tuple[bytes, bytes]],
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Refuse a request whose body was not read: drain it first (a client writing
        it all before reading would see a reset otherwise)."""
        finished = await drain(receive)
        close = [] if finished else [(b"connection", b"close")]
        await self._reject(send, reason, status, message, cors, [*(extra or []), *close])

    @staticmethod
    def _client_ip(scope: Scope, forwarded: bytes) -> str:
        if forwarded:
            return forwarded.split(b",", 1)[0].strip().decode("latin-1")
        client = scope.get("client")
        return client[0] if client else ""

    def _cors_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        if origin and self._lookups.sites.known_origin(origin):
            return [(b"access-control-allow-origin", origin.encode("latin-1")), _VARY]
        return [_VARY]

    async def _preflight(self, send: Send, origin: str) -> None:
        if not origin or not self._lookups.sites.known_origin(origin):
            await self._respond(
                send,
                403,
                {"error": "origin_not_allowed", "message": f"origin {origin!r} is not allowed"},
                [_VARY],
            )
            return
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", b"Content-Type"),
            (b"access-control-max-age", b"86400"),
            _VARY,
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _reject(
        self,
        send: Send,
        reason: RejectReason,
        status: int,
        message: str,
        cors: list[tuple[bytes, bytes]],
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._stats.rejected(reason)
        await self._respond(
            send, status, {"error": reason, "message": message}, cors + (extra or [])
        )

    @staticmethod
    async def _respond(
        send: Send, status: int, payload: dict[str, Any], headers: list[tuple[bytes, bytes]]
    ) -> None:
        body = _encode(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(body)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})
