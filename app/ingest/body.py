"""An ingest request's body: read within the size limit, drained when refused, decoded.

Three things a client outside sees here:

- A refused body is *drained* before the answer. A client that writes the whole body
  before reading (Python's `urllib`, many SDKs) would otherwise have the connection
  closed under it while it still writes, and see `Connection reset by peer` instead of
  the 413 or 415. Draining stops after `DRAIN_MAX_BYTES` or `DRAIN_SECONDS`; the answer
  then says `Connection: close` (the client may still see a reset, but only a client
  sending that much or that slowly).
- `Content-Encoding: gzip`, `deflate` (zlib, or raw deflate as some clients send it) and
  `br` (Brotli) bodies are decoded; any other encoding is refused with 415 naming it.
- The limit holds for the decoded body too, checked while inflating (bounded output per
  step), so a small compressed body that inflates to gigabytes (a zip bomb) costs at most
  the limit in memory before its 413.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import brotli

__all__ = [
    "DRAIN_MAX_BYTES",
    "DRAIN_SECONDS",
    "ENCODINGS",
    "BodyError",
    "decode_body",
    "drain",
    "encoding_of",
    "read_body",
]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

DRAIN_MAX_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 10.0
ENCODINGS = ("gzip", "deflate", "br")
_ALIASES = {"x-gzip": "gzip"}


class BodyError(Exception):
    """A body refused while decoding: its status, reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


async def read_body(receive: Receive, max_bytes: int) -> tuple[bytes | None, bool]:
    """(body, finished): the body, or None once it grows past `max_bytes`; `finished`
    says whether the client sent all of it (False: the rest is still to be drained)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", True
        chunk = message.get("body", b"")
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if size > max_bytes:
            return None, not more
        chunks.append(chunk)
        if not more:
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), True


async def drain(
    receive: Receive, *, max_bytes: int = DRAIN_MAX_BYTES, seconds: float = DRAIN_SECONDS
) -> bool:
    """Read and discard the rest of a request body; True when the client finished
    sending it within `max_bytes` and `seconds`."""
    deadline = time.monotonic() + seconds
    drained = 0
    try:
        while drained <= max_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            async with asyncio.timeout(left):  # not wait_for: see app/waits.py
                message = await receive()
            if message["type"] != "http.request":
                return True  # the client went away: nothing left to read
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
    except TimeoutError:
        return False
    return False


def encoding_of(header: bytes) -> str | None:
    """The content coding named by a `Content-Encoding` header value (None: identity);
    raises BodyError (415) for one Beacon does not decode."""
    value = header.decode("latin-1").strip().lower()
    if value in ("", "identity"):
        return None
    value = _ALIASES.get(value, value)
    if value in ENCODINGS:
        return value
    raise BodyError(
        415,
        "content_encoding",
        f"Content-Encoding {value!r} is not supported; send identity, gzip, deflate or br",
    )


def _too_large(limit: int) -> BodyError:
    return BodyError(413, "too_large", f"decoded request body is larger than {limit} bytes")


def _inflate(decompressor: Any, data: bytes, limit: int, produced: list[bytes]) -> int:
    """Feed `data` through a zlib decompressor, at most `limit + 1` bytes out in all."""
    size = sum(map(len, produced))
    pending = data
    while True:
        piece = decompressor.decompress(pending, limit + 1 - size)
        produced.append(piece)
        size += len(piece)
        if size > limit:
            raise _too_large(limit)
        pending = decompressor.unconsumed_tail
        if not pending:
            return size


def _zlib_decode(body: bytes, wbits: int, name: str, limit: int) -> bytes:
    produced: list[bytes] = []
    data = body
    try:
        while True:
            decompressor = zlib.decompressobj(wbits)
            _inflate(decompressor, data, limit, produced)
            if not decompressor.eof:
                raise BodyError(400, "invalid", f"the {name} body ends early")
            data = decompressor.unused_data
            # gzip allows several members one after the other; anything else is junk.
            if not (name == "gzip" and data):
                break
    except zlib.error as exc:
        raise BodyError(400, "invalid", f"the body is not valid {name}: {exc}") from None
    if data.strip(b"\x00"):
        raise BodyError(400, "invalid", f"the {name} body has bytes after its end")
    return b"".join(produced)


def _brotli_decode(body: bytes, limit: int) -> bytes:
    decompressor = brotli.Decompressor()
    produced: list[bytes] = []
    size = 0
    try:
        piece = decompressor.process(body, output_buffer_limit=limit + 1)
        while True:
            produced.append(piece)
            size += len(piece)
            if size > limit:
                raise _too_large(limit)
            if decompressor.is_finished():
                return b"".join(produced)
            if decompressor.can_accept_more_data():
                raise BodyError(400, "invalid", "the br body ends early")
            piece = decompressor.process(b"", output_buffer_limit=limit + 1 - size)
    except brotli.error as exc:
        raise BodyError(400, "invalid", f"the body is not valid br: {exc}") from None


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` decoded from `encoding` (one of ENCODINGS), at most `limit` bytes of it."""
    if encoding == "gzip":
        return _zlib_decode(body, 16 + zlib.MAX_WBITS, "gzip", limit)
    if encoding == "deflate":
        # HTTP's deflate is the zlib format; some clients send raw deflate instead.
        zlib_header = len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0
        return _zlib_decode(
            body, zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS, "deflate", limit
        )
    return _brotli_decode(body, limit)
