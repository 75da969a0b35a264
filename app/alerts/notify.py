"""Delivering notifications off the evaluator's path: a queue, a few sender tasks,
retries with back-off, and a record of every attempt.

The evaluator stores a round's deliveries as `pending` rows and hands them to
`Notifier.submit`; it never waits for them. A scheduler releases each delivery when it
is due into a queue that `SENDERS` tasks take from, so a receiver that hangs holds one
sender for at most the time-out while the others go on. After each attempt the row is
stored again: `sent`, or `pending` with the error and the next attempt at
`retry · 2^(attempt-1)` seconds (at most `MAX_BACKOFF`), or `failed` after
`max_attempts`. Stopping lets an attempt under way finish and be recorded (for at most
the time-out and a margin): cancelled between the receiver's answer and the record, a
sent notification would stay `pending` and be sent again. Deliveries still pending when
a process stops are sent by the next evaluator (they are read back from the store when
it starts or takes over).

In scale mode each attempt is claimed in Redis first (`app/alerts/lease.py`), so two
processes never attempt the same delivery at once and a finished one is not repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Sequence

import anyio.to_thread
import httpx
import msgspec

from app.alerts.channels import SendContext, SmtpSettings, deliver
from app.alerts.http import DeliveryError
from app.alerts.lease import Claims
from app.alerts.notice import Notice
from app.alerts.rules import Channel
from app.alerts.store import AlertStore, DeliveryRow
from app.waits import wait_set

__all__ = ["MAX_BACKOFF", "SENDERS", "Notifier"]

log = logging.getLogger("beacon.alerts")

SENDERS = 4
MAX_BACKOFF = 300.0
_channel_decoder: msgspec.json.Decoder[Channel] = msgspec.json.Decoder(Channel)
_notice_decoder = msgspec.json.Decoder(Notice)


class Notifier:
    def __init__(
        self,
        alerts: AlertStore,
        *,
        allow_private: bool,
        timeout: float,
        smtp: SmtpSettings,
        max_attempts: int,
        retry_seconds: float,
        claims: Claims | None = None,
    ) -> None:
        self._alerts = alerts
        self._allow_private = allow_private
        self._timeout = timeout
        self._smtp = smtp
        self.max_attempts = max(1, max_attempts)
        self.retry_seconds = retry_seconds
        self.claims = claims
        self._heap: list[tuple[float, int, DeliveryRow]] = []
        self._order = itertools.count()
        self._queued: set[str] = set()
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[DeliveryRow] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[DeliveryRow]] = set()  # under way
        self._client: httpx.AsyncClient | None = None
        self.counts: Counter[str] = Counter()

    @property
    def context(self) -> SendContext:
        assert self._client is not None, "the notifier is not started"
        return SendContext(
            client=self._client,
            allow_private=self._allow_private,
            timeout=self._timeout,
            smtp=self._smtp,
        )

    def start(self) -> None:
        self._client = httpx.AsyncClient(trust_env=False)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._schedule())]
        self._tasks += [loop.create_task(self._send_forever()) for _ in range(SENDERS)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._attempts:  # shielded from the senders' cancellation: let them finish
            _, late = await asyncio.wait(self._attempts, timeout=self._timeout + 5)
            for task in late:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(self, rows: Sequence[DeliveryRow]) -> None:
        for row in rows:
            if row.delivery_id in self._queued or row.status != "pending":
                continue
            self._queued.add(row.delivery_id)
            heapq.heappush(self._heap, (row.next_attempt_at, next(self._order), row))
        self._wake.set()

    @property
    def waiting(self) -> int:
        return len(self._queued)

    async def _schedule(self) -> None:
        while True:
            now = time.time()
            while self._heap and self._heap[0][0] <= now:
                _, _, row = heapq.heappop(self._heap)
                self._queue.put_nowait(row)
            self._wake.clear()
            delay = self._heap[0][0] - now if self._heap else None
            await wait_set(self._wake, delay)

    async def _send_forever(self) -> None:
        while True:
            row = await self._queue.get()
            attempt = asyncio.get_running_loop().create_task(self.attempt(row))
            self._attempts.add(attempt)
            attempt.add_done_callback(self._attempts.discard)
            try:
                await asyncio.shield(attempt)
            except Exception as exc:  # a bug must not stop the sender
                log.error(
                    "delivery attempt crashed",
                    extra={"delivery": row.delivery_id, "error": repr(exc)[:300]},
                )
                self._queued.discard(row.delivery_id)

    def _backoff(self, attempts: int) -> float:
        return min(self.retry_seconds * 2 ** (attempts - 1), MAX_BACKOFF)

    async def attempt(self, row: DeliveryRow) -> DeliveryRow:
        """One attempt at `row`; records it and schedules the next one when it failed."""
        if self.claims is not None:
            verdict = await self.claims.begin_delivery(row.delivery_id, self._timeout + 5)
            if verdict == "done":
                self._queued.discard(row.delivery_id)
                return row
            if verdict == "busy":
                self._requeue(row, time.time() + self._timeout + 5)
                return row
        started = time.time()
        try:
            channel = _channel_decoder.decode(row.channel)
            notice = _notice_decoder.decode(row.payload)
            await deliver(self.context, channel, notice, row.delivery_id)
            error = ""
        except DeliveryError as exc:
            error = str(exc)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            error = f"unreadable delivery record: {exc}"
        row.attempts += 1
        row.updated_at = round(time.time(), 3)
        row.last_error = error
        if not error:
            row.status = "sent"
        elif row.attempts >= self.max_attempts:
            row.status = "failed"
        else:
            row.next_attempt_at = round(started + self._backoff(row.attempts), 3)
        self.counts["attempts"] += 1
        if row.status != "pending":
            self.counts[row.status] += 1
        log.log(
            logging.INFO if not error else logging.WARNING,
            "notification " + ("sent" if not error else f"attempt {row.attempts} failed"),
            extra={
                "site_id": row.site_id,
                "delivery": row.delivery_id,
                "channel": row.channel_type,
                "status": row.status,
                "error": error,
            },
        )
        try:
            await anyio.to_thread.run_sync(self._alerts.save_deliveries, [row])
        except Exception as exc:
            log.warning(
                "a delivery record could not be stored",
                extra={"delivery": row.delivery_id, "error": str(exc)[:300]},
            )
        if self.claims is not None:
            with contextlib.suppress(Exception):
                await self.claims.end_delivery(row.delivery_id, final=row.status != "pending")
        if row.status == "pending":
            self._requeue(row, row.next_attempt_at)
        else:
            self._queued.discard(row.delivery_id)
        return row

    async def attempt_now(self, row: DeliveryRow) -> DeliveryRow:
        """Attempt `row` at once (a test notification); retries follow in the queue."""
        self._queued.add(row.delivery_id)
        return await self.attempt(row)

    def _requeue(self, row: DeliveryRow, when: float) -> None:
        heapq.heappush(self._heap, (when, next(self._order), row))
        self._wake.set()

    async def send_once(self, channel: Channel, notice: Notice) -> str:
        """Best effort, not recorded: Alertmanager's refresh of a firing alert."""
        try:
            await deliver(self.context, channel, notice, f"refresh-{notice.alert_id}")
        except DeliveryError as exc:
            self.counts["refresh_failed"] += 1
            return str(exc)
        self.counts["refreshed"] += 1
        return ""


def now_seconds(moment: dt.datetime | None = None) -> float:
    return round((moment or dt.datetime.now(dt.UTC)).timestamp(), 3)
