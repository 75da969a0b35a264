"""The live snapshot (DESIGN §8): every few seconds, per site, a small JSON object —
visitors now, events and errors per minute, p75 INP of the last 5 minutes.

    {"site": "s_…", "at": "…Z", "visitors": 12, "events_per_min": 340,
     "errors_per_min": 3, "inp_p75": 184.0, "inp_samples": 41}

Visitors come from the realtime API (`app.query.engagement.realtime`: distinct visitors
with an event received in the last 5 minutes), the p75 INP from the vitals API
(`app.query.vitals.vitals`, `metric=INP`, the last 5 minutes); events and errors per
minute are arrival rates (events received in the last minute, all and `error` ones),
which no API defines, counted here in one small query.

Snapshots are computed only for sites somebody watches: embedded, for the sites with an
open `GET …/live` connection (`LiveHub`); in scale mode for the sites whose Redis
channel has subscribers (`PUBSUB NUMSUB`), published there by the alert lease holder, and
forwarded by the live endpoint of every process (`app/scale/live.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
import msgspec
import redis.asyncio
from litestar import Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage
from redis.exceptions import RedisError

from app.auth import require_site_token
from app.query.engagement import realtime
from app.query.params import Query
from app.query.vitals import vitals
from app.scale.keys import Keys
from app.store.client import Store

__all__ = [
    "LIVE_SECONDS",
    "LiveHub",
    "LivePublisher",
    "compute_snapshot",
    "live_snapshots",
]

log = logging.getLogger("beacon.alerts")

LIVE_SECONDS = 5.0
MAX_SECONDS = 300.0
_encode = msgspec.json.encode


def compute_snapshot(store: Store, site: str, now: dt.datetime) -> dict[str, Any]:
    """One site's snapshot (blocking: run it in a worker thread)."""
    recent = Query(site=site, start=now - dt.timedelta(minutes=5), end=now, tz="UTC")
    visitors = realtime(store, recent)["visitors"]
    inp = vitals(store, msgspec.structs.replace(recent, metrics=("INP",)))["metrics"]["INP"]
    events, errors = store.rows(
        f"SELECT count(), countIf(type = 'error') FROM {store.table('events')} "
        "WHERE site_id = {site:String} AND received_at >= {since:DateTime64(3, 'UTC')}",
        {"site": site, "since": (now - dt.timedelta(minutes=1)).replace(tzinfo=None)},
    )[0]
    return {
        "site": site,
        "at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "visitors": int(visitors),
        "events_per_min": int(events),
        "errors_per_min": int(errors),
        "inp_p75": inp["p75"],
        "inp_samples": inp["samples"],
    }


class LiveHub:
    """Embedded mode: snapshots for the sites with open live connections."""

    def __init__(self, store: Store, *, every: float = LIVE_SECONDS) -> None:
        self._store = store
        self._every = every
        self._watchers: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            for site, queues in list(self._watchers.items()):
                if not queues:
                    continue
                try:
                    snapshot = await anyio.to_thread.run_sync(
                        compute_snapshot, self._store, site, dt.datetime.now(dt.UTC)
                    )
                except Exception as exc:
                    log.warning("live snapshot failed", extra={"site_id": site, "error": str(exc)})
                    continue
                data = _encode(snapshot)
                for queue in list(queues):
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(data)
            await asyncio.sleep(self._every)

    async def stream(
        self, site: str, *, max_seconds: float = MAX_SECONDS
    ) -> AsyncIterator[ServerSentEventMessage]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
        self._watchers.setdefault(site, set()).add(queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_seconds
        try:
            # The first snapshot at once, not after the next tick.
            first = await anyio.to_thread.run_sync(
                compute_snapshot, self._store, site, dt.datetime.now(dt.UTC)
            )
            yield ServerSentEventMessage(event="snapshot", data=_encode(first))
            while (left := deadline - loop.time()) > 0:
                try:
                    # Not wait_for: it can lose the cancellation of a closed stream
                    # (app/waits.py).
                    async with asyncio.timeout(min(left, 15.0)):
                        data = await queue.get()
                except TimeoutError:
                    yield ServerSentEventMessage(comment="keep-alive")
                    continue
                yield ServerSentEventMessage(event="snapshot", data=data)
        finally:
            self._watchers.get(site, set()).discard(queue)


class LivePublisher:
    """Scale mode: publish snapshots on the site's channel (`Keys.live`) for watched
    sites, while `active()` (this process holds the alert lease)."""

    def __init__(
        self,
        store: Store,
        client: redis.asyncio.Redis,
        keys: Keys,
        sites: Callable[[], list[str]],
        active: Callable[[], bool],
        *,
        every: float = LIVE_SECONDS,
    ) -> None:
        self._store = store
        self._client = client
        self._keys = keys
        self._sites = sites
        self._active = active
        self._every = every
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish_once(self) -> int:
        sites = self._sites()
        if not sites:
            return 0
        channels = [self._keys.live(s) for s in sites]
        counts = await self._client.pubsub_numsub(*channels)
        watched = [site for site, (_, n) in zip(sites, counts, strict=True) if n]
        now = dt.datetime.now(dt.UTC)
        for site in watched:
            snapshot = await anyio.to_thread.run_sync(compute_snapshot, self._store, site, now)
            await self._client.publish(self._keys.live(site), _encode(snapshot))
            self.published += 1
        return len(watched)

    async def _run(self) -> None:
        while True:
            if self._active():
                try:
                    await self.publish_once()
                except (RedisError, OSError) as exc:
                    log.warning("publishing live snapshots failed", extra={"error": str(exc)})
                except Exception as exc:
                    log.warning("live snapshot failed", extra={"error": repr(exc)[:300]})
            await asyncio.sleep(self._every)


@get(
    "/api/v1/sites/{site:str}/live",
    summary="Live snapshot every few seconds (server-sent events)",
    guards=[require_site_token],
    tags=["analytics"],
)
async def live_snapshots(request: Request, site: str) -> ServerSentEvent:
    hub: LiveHub = request.app.state.runtime.live
    return ServerSentEvent(hub.stream(site), retry_duration=2000)
