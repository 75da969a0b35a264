"""The alert tables (`sql/040_alerts.sql`): rules, states, alerts, history, silences and
deliveries, read and written through the store.

Every table is small and mutable the ClickHouse way: a change is a new row with a higher
version (nanoseconds), readers take the newest row per key with `argMax`. Rows travel as
JSONEachRow lines (msgspec Structs, times as float seconds); one evaluation round writes
each table at most once, whatever the number of rules. All calls block: run them in a
worker thread from async code.

Limits: `alerts()` lists the newest alerts first and reads each one's latest row (fine for
thousands of alerts per site; older ones are paged with `limit`/`before`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from app.alerts.evaluate import EPOCH, RuleState, Transition
from app.alerts.rules import RuleSpec
from app.store.client import Store

__all__ = [
    "AlertRow",
    "AlertStore",
    "DeliveryRow",
    "HistoryRow",
    "RuleRecord",
    "aware",
    "new_rule_id",
    "seconds",
]


def aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def seconds(moment: dt.datetime) -> float:
    return round(aware(moment).timestamp(), 3)


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None or aware(moment) <= EPOCH:
        return None
    return aware(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_rule_id() -> str:
    return "r_" + secrets.token_hex(8)


def _version() -> int:
    return time.time_ns()


_rule_decoder = msgspec.json.Decoder(RuleSpec)
_encoder = msgspec.json.Encoder()


class RuleRecord(msgspec.Struct, kw_only=True):
    rule_id: str
    site: str
    spec: RuleSpec
    created_at: dt.datetime
    updated_at: dt.datetime


class _RuleRow(msgspec.Struct, kw_only=True):
    site_id: str
    rule_id: str
    spec: str
    created_at: float
    updated_at: float
    deleted: int
    version: int


class _StateRow(msgspec.Struct, kw_only=True):
    site_id: str
    rule_id: str
    seq: int
    status: str
    alert_id: str
    since: float
    opened_at: float
    started_at: float
    value: float
    notified: int
    last_notified_at: float
    updated_at: float
    version: int


class AlertRow(msgspec.Struct, kw_only=True):
    site_id: str
    alert_id: str
    rule_id: str
    rule_name: str
    metric: str
    severity: str
    status: str
    value: float
    threshold: float
    opened_at: float
    started_at: float
    resolved_at: float
    notified: int
    detail: str
    updated_at: float
    version: int


class HistoryRow(msgspec.Struct, kw_only=True):
    site_id: str
    rule_id: str
    alert_id: str
    at: float
    kind: str
    from_status: str = ""
    to_status: str = ""
    value: float = 0.0
    notified: int = 0
    reason: str = ""
    actor: str = ""
    note: str = ""
    transition_id: str = ""


class _SilenceRow(msgspec.Struct, kw_only=True):
    site_id: str
    rule_id: str
    until: float
    actor: str
    note: str
    version: int


class DeliveryRow(msgspec.Struct, kw_only=True):
    site_id: str
    delivery_id: str
    rule_id: str
    alert_id: str
    transition_id: str
    kind: str
    channel_type: str
    target: str
    channel: str
    payload: str
    status: str = "pending"
    attempts: int = 0
    last_error: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    next_attempt_at: float = 0.0
    version: int = 0


def history_of(transition: Transition, *, note: str = "") -> HistoryRow:
    return HistoryRow(
        site_id=transition.site,
        rule_id=transition.rule_id,
        alert_id=transition.alert_id,
        at=seconds(transition.at),
        kind="transition",
        from_status=transition.from_status,
        to_status=transition.to_status,
        value=transition.value,
        notified=int(transition.notify),
        reason=transition.reason,
        actor=transition.actor,
        note=note,
        transition_id=transition.transition_id,
    )


def state_row(state: RuleState, now: dt.datetime) -> _StateRow:
    return _StateRow(
        site_id=state.site,
        rule_id=state.rule_id,
        seq=state.seq,
        status=state.status,
        alert_id=state.alert_id,
        since=seconds(state.since),
        opened_at=seconds(state.opened_at),
        started_at=seconds(state.started_at),
        value=state.value,
        notified=int(state.notified),
        last_notified_at=seconds(state.last_notified_at),
        updated_at=seconds(now),
        version=_version(),
    )


_HISTORY_COLUMNS = tuple(HistoryRow.__struct_fields__)
_ALERT_COLUMNS = tuple(AlertRow.__struct_fields__)
_DELIVERY_COLUMNS = tuple(DeliveryRow.__struct_fields__)


class AlertStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _insert(self, table: str, rows: Sequence[msgspec.Struct]) -> None:
        if not rows:
            return
        columns = tuple(type(rows[0]).__struct_fields__)
        self.store.insert_json_rows(
            table, columns, _encoder.encode_lines(rows), dedup_token=uuid.uuid4().hex
        )

    # -- rules --------------------------------------------------------------------------

    def save_rule(self, record: RuleRecord, *, deleted: bool = False) -> None:
        self.save_rules([record], deleted=deleted)

    def save_rules(self, records: Sequence[RuleRecord], *, deleted: bool = False) -> None:
        self._insert(
            "alert_rules",
            [
                _RuleRow(
                    site_id=record.site,
                    rule_id=record.rule_id,
                    spec=_encoder.encode(record.spec).decode(),
                    created_at=seconds(record.created_at),
                    updated_at=seconds(record.updated_at),
                    deleted=int(deleted),
                    version=_version(),
                )
                for record in records
            ],
        )

    def rules(self, site: str | None = None, rule_id: str | None = None) -> list[RuleRecord]:
        """The rules not deleted, of one site (or all sites), oldest first."""
        where, params = ["1"], {}
        if site is not None:
            where.append("site_id = {site:String}")
            params["site"] = site
        if rule_id is not None:
            where.append("rule_id = {rule:String}")
            params["rule"] = rule_id
        rows = self.store.rows(
            "SELECT site_id, rule_id, argMax(spec, version), min(created_at), "
            "argMax(updated_at, version), argMax(deleted, version) "
            f"FROM {self.store.table('alert_rules')} WHERE {' AND '.join(where)} "
            "GROUP BY site_id, rule_id ORDER BY min(created_at), rule_id",
            params,
        )
        return [
            RuleRecord(
                rule_id=rule,
                site=site_id,
                spec=_rule_decoder.decode(spec),
                created_at=aware(created),
                updated_at=aware(updated),
            )
            for site_id, rule, spec, created, updated, deleted in rows
            if not deleted
        ]

    def rule(self, site: str, rule_id: str) -> RuleRecord | None:
        found = self.rules(site, rule_id)
        return found[0] if found else None

    # -- states -------------------------------------------------------------------------

    def states(self) -> dict[str, RuleState]:
        rows = self.store.rows(
            "SELECT rule_id, argMax(tuple(site_id, seq, status, alert_id, since, opened_at, "
            "started_at, value, notified, last_notified_at), version) "
            f"FROM {self.store.table('alert_states')} GROUP BY rule_id"
        )
        states = {}
        for rule_id, values in rows:
            site, seq, status, alert_id, since, opened, started, value, notified, last = values
            states[rule_id] = RuleState(
                rule_id=rule_id,
                site=site,
                seq=int(seq),
                status=status,
                alert_id=alert_id,
                since=aware(since),
                opened_at=aware(opened),
                started_at=aware(started),
                value=float(value),
                notified=bool(notified),
                last_notified_at=aware(last),
            )
        return states

    def write_round(
        self,
        *,
        states: Iterable[RuleState],
        alerts: Sequence[AlertRow],
        history: Sequence[HistoryRow],
        deliveries: Sequence[DeliveryRow],
        now: dt.datetime,
    ) -> None:
        """One round's changes: at most one insert per table. Deliveries and history go
        first, the states last, so a state is never ahead of its notifications."""
        self._insert("alert_deliveries", deliveries)
        self._insert("alert_history", history)
        self._insert("alerts", alerts)
        self._insert("alert_states", [state_row(s, now) for s in states])

    # -- actions ------------------------------------------------------------------------

    def add_history(self, row: HistoryRow) -> None:
        self._insert("alert_history", [row])

    def set_silence(
        self, site: str, rule_id: str, until: dt.datetime, actor: str, note: str
    ) -> None:
        self._insert(
            "alert_silences",
            [
                _SilenceRow(
                    site_id=site,
                    rule_id=rule_id,
                    until=seconds(until),
                    actor=actor,
                    note=note,
                    version=_version(),
                )
            ],
        )

    def silences(self, rule_ids: Sequence[str] | None = None) -> dict[str, dt.datetime]:
        where, params = "1", {}
        if rule_ids is not None:
            where, params = "rule_id IN {ids:Array(String)}", {"ids": list(rule_ids)}
        rows = self.store.rows(
            f"SELECT rule_id, argMax(until, version) FROM {self.store.table('alert_silences')} "
            f"WHERE {where} GROUP BY rule_id",
            params,
        )
        return {rule_id: aware(until) for rule_id, until in rows}

    def resolve_requests(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """Alerts among `alert_ids` that a person asked to resolve: alert id -> who."""
        if not alert_ids:
            return {}
        rows = self.store.rows(
            f"SELECT alert_id, argMax(actor, at) FROM {self.store.table('alert_history')} "
            "WHERE kind = 'resolve' AND alert_id IN {ids:Array(String)} GROUP BY alert_id",
            {"ids": list(alert_ids)},
        )
        return {alert_id: actor for alert_id, actor in rows}

    # -- deliveries ---------------------------------------------------------------------

    def save_deliveries(self, rows: Sequence[DeliveryRow]) -> None:
        for row in rows:
            row.version = _version()
        self._insert("alert_deliveries", rows)

    def pending_deliveries(self) -> list[DeliveryRow]:
        keys = ("site_id", "delivery_id")
        rows = self._latest("alert_deliveries", keys, _DELIVERY_COLUMNS, "1", {}, status="pending")
        found = []
        for values in rows:
            for key in ("created_at", "updated_at", "next_attempt_at"):
                values[key] = seconds(values[key])
            found.append(DeliveryRow(**values))
        return found

    # -- reading alerts -----------------------------------------------------------------

    def _latest(
        self,
        table: str,
        keys: Sequence[str],
        columns: Sequence[str],
        where: str,
        params: dict[str, Any],
        *,
        status: str = "",
    ) -> list[dict[str, Any]]:
        """The newest row of each key as a dict of `columns` (one argMax of a tuple: an
        alias named like a column would shadow it inside the other aggregates), only
        those whose newest `status` is `status` when given."""
        others = [c for c in columns if c not in keys]
        condition = ""
        if status:
            condition = f" HAVING latest.{others.index('status') + 1} = {{status:String}}"
            params = {**params, "status": status}
        _, rows = self.store.query(
            f"SELECT {', '.join(keys)}, argMax(tuple({', '.join(others)}), version) AS latest "
            f"FROM {self.store.table(table)} WHERE {where} GROUP BY {', '.join(keys)}"
            f"{condition}",
            params,
        )
        found = []
        for row in rows:
            values = dict(zip(keys, row[: len(keys)], strict=True))
            values.update(zip(others, row[len(keys)], strict=True))
            found.append(values)
        return found

    def alert_rows(
        self,
        site: str,
        *,
        alert_ids: Sequence[str] | None = None,
        rule_id: str | None = None,
    ) -> list[dict[str, Any]]:
        where = ["site_id = {site:String}"]
        params: dict[str, Any] = {"site": site}
        if alert_ids is not None:
            where.append("alert_id IN {ids:Array(String)}")
            params["ids"] = list(alert_ids)
        if rule_id is not None:
            where.append("rule_id = {rule:String}")
            params["rule"] = rule_id
        columns = [c for c in _ALERT_COLUMNS if c != "site_id"]
        return self._latest("alerts", ("alert_id",), columns, " AND ".join(where), params)

    def history(self, site: str, alert_ids: Sequence[str]) -> list[HistoryRow]:
        if not alert_ids:
            return []
        _, rows = self.store.query(
            f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM {self.store.table('alert_history')} "
            "WHERE site_id = {site:String} AND alert_id IN {ids:Array(String)} "
            "ORDER BY at, transition_id",
            {"site": site, "ids": list(alert_ids)},
        )
        found = []
        for row in rows:
            values = dict(zip(_HISTORY_COLUMNS, row, strict=True))
            values["at"] = seconds(values["at"])
            found.append(HistoryRow(**values))
        return found

    def deliveries(self, site: str, alert_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not alert_ids:
            return []
        columns = [c for c in _DELIVERY_COLUMNS if c not in ("site_id", "channel", "payload")]
        return self._latest(
            "alert_deliveries",
            ("delivery_id",),
            columns,
            "site_id = {site:String} AND alert_id IN {ids:Array(String)}",
            {"site": site, "ids": list(alert_ids)},
        )
