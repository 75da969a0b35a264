"""The ceiling of the ingest benchmarks: a bare ASGI app that only reads the body and
decodes it with msgspec (Beacon's own decoder), then answers 202 — what Python on this
machine does for the same requests before any of Beacon's work. Run by uvicorn with the
same loop and HTTP parser as `beacon serve`.
"""

from __future__ import annotations

from typing import Any

from app.ingest.schema import decode_batch

__all__ = ["bare_app"]


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    batch = decode_batch(b"".join(chunks))
    body = b'{"accepted":%d}' % len(batch.events)
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
