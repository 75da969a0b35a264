"""`GET /api/v1/sites/{site}/live`: the site's events as they arrive, as server-sent events.

It reads the ingest stream itself (`XREAD`, no consumer group: it takes nothing from the
writers) from the newest entry on and forwards the entries of its site, so it shows
events the moment they are acknowledged, before they are in ClickHouse. Every entry is
one request's rows, and rows start with their `site_id` (the first field of `EventRow`),
so other sites' entries are skipped without decoding. Every few seconds it also sends
the realtime visitor count (distinct visitors in the last 5 minutes, from per-minute
HyperLogLogs written at ingest), and forwards the live snapshots that the alert lease
holder publishes on the site's pub/sub channel (`app/alerts/live.py`).

Messages: `event: visitors` `{"visitors": n}`; `event: events` `{"events": [...]}` with a
few display fields per event (the rows are already scrubbed at ingest); `event: snapshot`
`{"visitors", "events_per_min", "errors_per_min", "inp_p75", …}` every few seconds. A connection
lasts at most `MAX_SECONDS`, then the browser's EventSource reconnects (`retry`), so a
shutdown never waits on an endless response.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get
from litestar.exceptions import ServiceUnavailableException
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.auth import require_site_token
from app.scale.services import ScaleServices
from app.scale.sink import PAYLOAD_FIELD

__all__ = ["LIVE_FIELDS", "live_events", "live_messages", "realtime_visitors"]

MAX_SECONDS = 300.0
VISITORS_EVERY_SECONDS = 5.0
LIVE_FIELDS = (
    "type", "ts", "path", "name", "value", "country", "device", "browser", "referrer_source",
)  # fmt: skip


class LiveRow(msgspec.Struct):
    """The fields of a stored row that the live view shows (others are ignored)."""

    type: str
    ts: float
    path: str = ""
    name: str = ""
    value: float = 0.0
    country: str = ""
    device: str = ""
    browser: str = ""
    referrer_source: str = ""


_rows = msgspec.json.Decoder(LiveRow)
_encode = msgspec.json.encode


async def realtime_visitors(services: ScaleServices, site: str, now_ms: int) -> int:
    minute = now_ms // 60_000
    keys = [services.keys.visitors_minute(site, m) for m in range(minute - 4, minute + 1)]
    return int(await services.redis.pfcount(*keys))


def _site_rows(payload: bytes, prefix: bytes) -> list[LiveRow]:
    if not payload.startswith(prefix):
        return []
    return [_rows.decode(line) for line in payload.splitlines() if line]


async def live_messages(
    services: ScaleServices, site: str, *, max_seconds: float = MAX_SECONDS
) -> AsyncIterator[ServerSentEventMessage]:
    prefix = b'{"site_id":' + _encode(site) + b","
    newest = await services.redis.xrevrange(services.keys.stream, count=1)
    last = newest[0][0] if newest else b"0-0"
    deadline = time.monotonic() + max_seconds
    next_count = 0.0
    snapshots = services.redis.pubsub()
    await snapshots.subscribe(services.keys.live(site))
    try:
        while time.monotonic() < deadline:
            if time.monotonic() >= next_count:
                next_count = time.monotonic() + VISITORS_EVERY_SECONDS
                visitors = await realtime_visitors(services, site, int(time.time() * 1000))
                yield ServerSentEventMessage(event="visitors", data=_encode({"visitors": visitors}))
            while message := await snapshots.get_message(ignore_subscribe_messages=True, timeout=0):
                yield ServerSentEventMessage(event="snapshot", data=message["data"])
            reply: Any = await services.redis.xread(
                {services.keys.stream: last}, count=500, block=1000
            )
            rows: list[LiveRow] = []
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    rows += _site_rows(fields.get(PAYLOAD_FIELD, b""), prefix)
            if rows:
                yield ServerSentEventMessage(event="events", data=_encode({"events": rows}))
    finally:
        await snapshots.unsubscribe()
        await snapshots.aclose()


@get(
    "/api/v1/sites/{site:str}/live",
    summary="Live events and realtime visitors (server-sent events)",
    guards=[require_site_token],
    opt={"share": False},  # raw events as they arrive: not for shared links
    tags=["analytics"],
)
async def live_events(request: Request, site: str) -> ServerSentEvent:
    services: ScaleServices | None = getattr(request.app.state.runtime, "scale", None)
    if services is None:
        raise ServiceUnavailableException("the live view needs scale mode (BEACON_REDIS_URL)")
    return ServerSentEvent(live_messages(services, site), retry_duration=2000)
