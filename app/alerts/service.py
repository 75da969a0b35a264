"""The evaluator: every `BEACON_ALERTS_INTERVAL` seconds, one round over every enabled
rule of every site, inside `beacon serve` (embedded) and `beacon worker` (scale mode).

A round: read the rules and silences; compute the readings (grouped, in a worker
thread, `app/alerts/metrics.py`); apply the resolves people asked for; step each rule's
state (`app/alerts/evaluate.py`); in scale mode claim each change in Redis; store the
round's changes (one insert per table); hand the notifications to the notifier, which
sends them off this path. A round that overruns the interval delays the next one; it
never runs twice at once.

Scale mode: only the holder of the Redis lease evaluates (`app/alerts/lease.py`). A
process that takes the lease reads the states and the pending deliveries from the store
first, so it continues exactly where the previous holder stopped; one that loses it
stops evaluating at once and forgets its states.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import msgspec

from app.alerts.channels import SmtpSettings, target_of
from app.alerts.channels.alertmanager import RESEND_SECONDS
from app.alerts.evaluate import (
    ACTIVE,
    EPOCH,
    Reading,
    RuleState,
    Transition,
    resolve_by_hand,
    step,
)
from app.alerts.lease import Claims, Lease
from app.alerts.metrics import MetricReader
from app.alerts.notice import Notice
from app.alerts.notify import Notifier
from app.alerts.rules import AlertmanagerChannel, RuleSpec
from app.alerts.store import (
    AlertRow,
    AlertStore,
    DeliveryRow,
    HistoryRow,
    RuleRecord,
    history_of,
    iso,
    seconds,
)
from app.config import Settings
from app.scale.keys import Keys
from app.waits import wait_set

__all__ = ["AlertService", "RoundReport", "notice_of"]

log = logging.getLogger("beacon.alerts")


class RoundReport(msgspec.Struct, kw_only=True):
    at: dt.datetime
    rules: int
    seconds: float
    transitions: int
    deliveries: int
    computations: dict[str, int]
    #: Seconds spent in each kind of computation (overview, vitals, issues, series).
    computation_seconds: dict[str, float]
    errors: int


def condition_text(spec: RuleSpec) -> str:
    if spec.anomaly is not None:
        return f"anomaly |z| ≥ {spec.anomaly.z:g} {spec.anomaly.direction}"
    symbols = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
    return f"{symbols.get(spec.op or '', spec.op)} {spec.threshold:g}"


def alert_url(public_url: str, site: str, alert_id: str) -> str:
    return f"{public_url.rstrip('/')}/sites/{site}/alerts/{alert_id}"


def notice_of(
    rule: RuleRecord,
    *,
    alert_id: str,
    state: str,
    value: float | None,
    started_at: dt.datetime | None,
    resolved_at: dt.datetime | None,
    detail: dict[str, Any],
    public_url: str,
    now: dt.datetime,
) -> Notice:
    spec = rule.spec
    return Notice(
        alert_id=alert_id,
        rule_id=rule.rule_id,
        rule=spec.name,
        site=rule.site,
        state=state,
        severity=spec.severity,
        metric=spec.metric,
        value=value,
        threshold=spec.anomaly.z if spec.anomaly is not None else spec.threshold,
        started_at=iso(started_at),
        resolved_at=iso(resolved_at),
        url=alert_url(public_url, rule.site, alert_id),
        vital=spec.vital,
        window=spec.window,
        condition=condition_text(spec),
        filters=dict(spec.filters),
        detail=detail,
        sent_at=iso(now) or "",
    )


def delivery_rows(
    rule: RuleRecord, notice: Notice, transition_id: str, now: dt.datetime, *, kind: str
) -> list[DeliveryRow]:
    payload = msgspec.json.encode(notice).decode()
    created = seconds(now)
    return [
        DeliveryRow(
            site_id=rule.site,
            delivery_id=f"{transition_id}:{index}",
            rule_id=rule.rule_id,
            alert_id=notice.alert_id,
            transition_id=transition_id,
            kind=kind,
            channel_type=channel.__struct_config__.tag,  # type: ignore[arg-type]
            target=target_of(channel),
            channel=msgspec.json.encode(channel).decode(),
            payload=payload,
            created_at=created,
            updated_at=created,
            next_attempt_at=created,
        )
        for index, channel in enumerate(rule.spec.channels)
    ]


class AlertService:
    def __init__(
        self,
        settings: Settings,
        alerts: AlertStore,
        reader: MetricReader,
        *,
        redis: Any = None,
        keys: Keys | None = None,
        backlog_probe: Callable[[], Awaitable[int | None]] | None = None,
    ) -> None:
        self.settings = settings
        self._backlog_probe = backlog_probe
        self.alerts = alerts
        self.reader = reader
        self.interval = max(float(settings.alerts_interval), 0.1)
        self.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        self.lease: Lease | None = None
        claims = None
        if redis is not None and keys is not None:
            self.lease = Lease(redis, keys, self.interval)
            claims = Claims(redis, keys, self.lease.token)
        self.claims = claims
        self.notifier = Notifier(
            alerts,
            allow_private=settings.alerts_allow_private,
            timeout=settings.alerts_timeout_seconds,
            smtp=SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            ),
            max_attempts=settings.alerts_max_attempts,
            retry_seconds=settings.alerts_retry_seconds,
            claims=claims,
        )
        self.leader = self.lease is None
        self.started = False
        self._states: dict[str, RuleState] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._background: set[asyncio.Task[str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._refreshed: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self.last_round: RoundReport | None = None
        self.rounds_done = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, *, evaluate: bool = True) -> None:
        """Start the notifier, and the evaluator (with its lease, in scale mode) unless
        `evaluate` is false (`BEACON_ALERTS_INTERVAL=0`: rules are kept, not evaluated)."""
        self.notifier.start()
        self.started = evaluate
        if not evaluate:
            self.leader = False
            return
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._evaluate_forever()))
        if self.lease is not None:
            self._tasks.append(loop.create_task(self._hold_lease()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.notifier.stop()
        if self.lease is not None and self.leader:
            await self.lease.release()

    async def _hold_lease(self) -> None:
        assert self.lease is not None
        lease = self.lease
        while True:
            if self.leader:
                if not await lease.renew():
                    log.warning("alerts: the evaluator lease was lost")
                    self._lose_lease()
                await asyncio.sleep(lease.renew_every)
            else:
                if await lease.acquire():
                    log.info("alerts: this process now evaluates the rules")
                    self.leader = True
                    self._states = None  # read what the previous holder stored
                    self.counts["lease_acquired"] += 1
                    self._wake.set()
                    continue
                await asyncio.sleep(lease.retry_every)

    def _lose_lease(self) -> None:
        self.leader = False
        self._states = None

    async def _evaluate_forever(self) -> None:
        while True:
            began = time.monotonic()
            if self.leader:
                try:
                    await self.run_round()
                except Exception as exc:
                    self.counts["round_errors"] += 1
                    log.error(
                        "alerts: an evaluation round failed", extra={"error": repr(exc)[:500]}
                    )
            self._wake.clear()
            delay = max(self.interval - (time.monotonic() - began), 0.0)
            await wait_set(self._wake, delay)

    # -- one round ----------------------------------------------------------------------

    async def _load(self) -> dict[str, RuleState]:
        if self._states is None:
            self._states = await anyio.to_thread.run_sync(self.alerts.states)
            pending = await anyio.to_thread.run_sync(self.alerts.pending_deliveries)
            self.notifier.submit(pending)
        return self._states

    async def run_round(self, now: dt.datetime | None = None) -> RoundReport:
        async with self._lock:
            return await self._round(now or dt.datetime.now(dt.UTC))

    async def _round(self, now: dt.datetime) -> RoundReport:
        began = time.perf_counter()
        states = await self._load()
        every = await anyio.to_thread.run_sync(self.alerts.rules)
        records = [r for r in every if r.spec.enabled]
        silences = await anyio.to_thread.run_sync(self.alerts.silences)
        if self.reader.health is not None:
            if self._backlog_probe is not None:
                self.reader.health.observed_backlog = await self._backlog_probe()
            self.reader.health.sample(now.timestamp())
        triples = [(r.rule_id, r.site, r.spec) for r in records]
        plan = self.reader.plan(triples, now)
        results = await anyio.to_thread.run_sync(self.reader.compute, plan, now)
        by_id = {r.rule_id: r for r in records}
        # Resolves people asked for, before this round's readings.
        active = {
            s.alert_id: s.rule_id for s in states.values() if s.status in ("pending", "firing")
        }
        requests = await anyio.to_thread.run_sync(self.alerts.resolve_requests, list(active))
        changes: list[tuple[RuleRecord, RuleState, Transition, Reading | None]] = []
        for alert_id, actor in requests.items():
            rule_id = active[alert_id]
            record = by_id.get(rule_id)
            if record is None:
                continue
            new, transition = resolve_by_hand(states[rule_id], now, actor or "api")
            if transition is not None:
                changes.append((record, new, transition, None))
                states[rule_id] = new
        # A rule switched off while its alert is open: the alert ends (notified as resolved
        # when its firing was), rather than staying open forever.
        for record in every:
            state = states.get(record.rule_id)
            if not record.spec.enabled and state is not None and state.status in ACTIVE:
                new, transition = resolve_by_hand(state, now, "rule disabled")
                if transition is not None:
                    changes.append((record, new, transition, None))
                    states[record.rule_id] = new
        errors = 0
        readings: dict[str, Reading] = {}
        for record in records:
            reading = self.reader.reading(record.site, record.spec, now, results)
            readings[record.rule_id] = reading
            if reading.error:
                errors += 1
            state = states.get(record.rule_id) or RuleState(
                rule_id=record.rule_id, site=record.site
            )
            new, transition = step(
                record.spec, state, reading, now, silenced_until=silences.get(record.rule_id, EPOCH)
            )
            states[record.rule_id] = new
            if transition is not None:
                changes.append((record, new, transition, reading))
        deliveries = await self._commit(changes, now)
        await self._refresh_alertmanager(states, by_id, readings, now)
        report = RoundReport(
            at=now,
            rules=len(records),
            seconds=round(time.perf_counter() - began, 4),
            transitions=len(changes),
            deliveries=len(deliveries),
            computations=dict(self.reader.last_counts),
            computation_seconds=dict(self.reader.last_seconds),
            errors=errors,
        )
        self.last_round = report
        self.rounds_done += 1
        self.counts["transitions"] += len(changes)
        return report

    async def _commit(
        self,
        changes: list[tuple[RuleRecord, RuleState, Transition, Reading | None]],
        now: dt.datetime,
    ) -> list[DeliveryRow]:
        if not changes:
            return []
        if self.claims is not None:
            if not self.leader:
                self._states = None
                return []
            kept = []
            for change in changes:
                _, _, transition, _ = change
                if await self.claims.transition(
                    transition.rule_id, transition.seq, transition.transition_id
                ):
                    kept.append(change)
                else:
                    # Another evaluator changed this rule from the same state: ours is stale.
                    self.counts["transitions_lost"] += 1
                    self._states = None
            changes = kept
        history: list[HistoryRow] = []
        alert_rows: list[AlertRow] = []
        deliveries: list[DeliveryRow] = []
        for record, state, transition, reading in changes:
            history.append(history_of(transition))
            detail = reading.detail if reading is not None else {}
            alert_rows.append(_alert_row(record, state, transition, detail, now))
            if transition.notify:
                notice = notice_of(
                    record,
                    alert_id=transition.alert_id,
                    state=transition.to_status,
                    value=transition.value,
                    started_at=state.started_at,
                    resolved_at=now if transition.to_status == "resolved" else None,
                    detail=detail,
                    public_url=self.public_url,
                    now=now,
                )
                deliveries += delivery_rows(
                    record, notice, transition.transition_id, now, kind=transition.to_status
                )
        changed = {state.rule_id: state for _, state, _, _ in changes}
        await anyio.to_thread.run_sync(
            lambda: self.alerts.write_round(
                states=changed.values(),
                alerts=alert_rows,
                history=history,
                deliveries=deliveries,
                now=now,
            )
        )
        self.notifier.submit(deliveries)
        return deliveries

    async def _refresh_alertmanager(
        self,
        states: dict[str, RuleState],
        by_id: dict[str, RuleRecord],
        readings: dict[str, Reading],
        now: dt.datetime,
    ) -> None:
        """Re-send firing, notified alerts to Alertmanager channels every minute (its
        alerts expire unless refreshed: app/alerts/channels/alertmanager.py)."""
        clock = time.monotonic()
        for rule_id, state in states.items():
            record = by_id.get(rule_id)
            if record is None or state.status != "firing" or not state.notified:
                continue
            channels = [c for c in record.spec.channels if isinstance(c, AlertmanagerChannel)]
            if not channels:
                continue
            last = self._refreshed.get(state.alert_id)
            if last is None:
                self._refreshed[state.alert_id] = clock  # the firing notice was just sent
                continue
            if clock - last < RESEND_SECONDS:
                continue
            self._refreshed[state.alert_id] = clock
            reading = readings.get(rule_id)
            notice = notice_of(
                record,
                alert_id=state.alert_id,
                state="firing",
                value=state.value,
                started_at=state.started_at,
                resolved_at=None,
                detail=reading.detail if reading is not None else {},
                public_url=self.public_url,
                now=now,
            )
            for channel in channels:
                task = asyncio.get_running_loop().create_task(
                    self.notifier.send_once(channel, notice)
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        firing = {s.alert_id for s in states.values() if s.status == "firing"}
        self._refreshed = {k: v for k, v in self._refreshed.items() if k in firing}

    # -- actions from the API -----------------------------------------------------------

    async def resolve(self, record: RuleRecord, alert_id: str, actor: str, note: str) -> bool:
        """A person resolves an alert. Recorded at once; applied now when this process
        evaluates (True), else by the lease holder's next round (False)."""
        now = dt.datetime.now(dt.UTC)
        row = HistoryRow(
            site_id=record.site,
            rule_id=record.rule_id,
            alert_id=alert_id,
            at=seconds(now),
            kind="resolve",
            actor=actor,
            note=note,
        )
        if not self.leader:
            await anyio.to_thread.run_sync(self.alerts.add_history, row)
            return False
        # Under the round's lock, so a round cannot apply the request half-way.
        async with self._lock:
            await anyio.to_thread.run_sync(self.alerts.add_history, row)
            states = await self._load()
            state = states.get(record.rule_id)
            if state is None or state.alert_id != alert_id:
                return False
            new, transition = resolve_by_hand(state, now, actor or "api")
            if transition is not None:
                states[record.rule_id] = new
                await self._commit([(record, new, transition, None)], now)
            return True

    async def test(self, record: RuleRecord) -> list[DeliveryRow]:
        """A test notification to each of the rule's channels, recorded; the first
        attempt is made before this returns (retries follow in the background)."""
        now = dt.datetime.now(dt.UTC)
        test_id = "test-" + uuid.uuid4().hex[:12]
        notice = notice_of(
            record,
            alert_id=test_id,
            state="test",
            value=None,
            started_at=now,
            resolved_at=None,
            detail={"note": "a test notification from Beacon"},
            public_url=self.public_url,
            now=now,
        )
        rows = delivery_rows(record, notice, test_id, now, kind="test")
        history = HistoryRow(
            site_id=record.site,
            rule_id=record.rule_id,
            alert_id=test_id,
            at=seconds(now),
            kind="test",
            note=f"{len(rows)} channel(s)",
        )
        await anyio.to_thread.run_sync(
            lambda: (self.alerts.save_deliveries(rows), self.alerts.add_history(history))
        )
        return list(await asyncio.gather(*(self.notifier.attempt_now(row) for row in rows)))

    def rule_state(self, rule_id: str) -> RuleState | None:
        return (self._states or {}).get(rule_id)


def _alert_row(
    record: RuleRecord,
    state: RuleState,
    transition: Transition,
    detail: dict[str, Any],
    now: dt.datetime,
) -> AlertRow:
    spec = record.spec
    return AlertRow(
        site_id=record.site,
        alert_id=transition.alert_id,
        rule_id=record.rule_id,
        rule_name=spec.name,
        metric=spec.metric,
        severity=spec.severity,
        status=transition.to_status,
        value=transition.value,
        threshold=float(spec.anomaly.z if spec.anomaly is not None else spec.threshold or 0.0),
        opened_at=seconds(state.opened_at),
        started_at=seconds(state.started_at),
        resolved_at=seconds(now) if transition.to_status == "resolved" else 0.0,
        notified=int(state.notified),
        detail=msgspec.json.encode(detail).decode(),
        updated_at=seconds(now),
        version=time.time_ns(),
    )
