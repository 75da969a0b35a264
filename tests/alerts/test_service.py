"""The evaluator in process (embedded store, no Redis): rounds with the clock given,
states kept in the store across a restart, a disabled rule's alert ended, manual resolve."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec

from app.alerts.metrics import IngestHealth, MetricReader
from app.alerts.rules import RuleSpec, check_rule
from app.alerts.service import AlertService
from app.alerts.store import AlertStore, RuleRecord, new_rule_id
from app.config import Settings
from app.store.client import Store

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def _service(store: Store, backlog: dict[str, float], dropped: dict[str, int]) -> AlertService:
    health = IngestHealth(lambda: dropped, lambda: backlog["value"])
    return AlertService(Settings(alerts_interval=1), AlertStore(store), MetricReader(store, health))


def _rule(store: Store, **fields: Any) -> RuleRecord:
    spec = check_rule(msgspec.convert(fields, RuleSpec), site="s_svc", smtp_configured=False)
    record = RuleRecord(rule_id=new_rule_id(), site="s_svc", spec=spec, created_at=T0,
                        updated_at=T0)  # fmt: skip
    AlertStore(store).save_rule(record)
    return record


def test_rounds_states_across_a_restart_and_a_disabled_rule(store: Store) -> None:
    backlog = {"value": 0.0}
    dropped = {"s_svc": 0}
    record = _rule(store, name="backlog", metric="spool_backlog", window="1m", op="gt",
                   threshold=100)  # fmt: skip
    bots = _rule(store, name="bots", metric="dropped_events", window="1m", op="gte",
                 threshold=10)  # fmt: skip
    alerts = AlertStore(store)

    async def run() -> None:
        first = _service(store, backlog, dropped)
        assert (await first.run_round(T0)).transitions == 0
        backlog["value"] = 500
        dropped["s_svc"] = 25  # 25 events dropped since the last round
        report = await first.run_round(T0 + dt.timedelta(seconds=1))
        assert report.transitions == 2 and report.rules == 2 and report.errors == 0
        # A new process (a restart) reads the states back and goes on from them.
        second = _service(store, backlog, dropped)
        assert (await second.run_round(T0 + dt.timedelta(seconds=2))).transitions == 0
        state = second.rule_state(record.rule_id)
        assert state is not None and state.status == "firing" and state.seq == 1
        # 70 s later the drops are out of the window: that alert resolves.
        report = await second.run_round(T0 + dt.timedelta(seconds=70))
        assert report.transitions == 1
        assert alerts.states()[bots.rule_id].status == "resolved"
        # The backlog rule is switched off while firing: its alert ends.
        disabled = msgspec.structs.replace(
            record, spec=msgspec.structs.replace(record.spec, enabled=False)
        )
        alerts.save_rule(disabled)
        report = await second.run_round(T0 + dt.timedelta(seconds=71))
        assert report.rules == 1 and report.transitions == 1

    asyncio.run(run())
    rows = {r["rule_id"]: r for r in alerts.alert_rows("s_svc")}
    assert rows[record.rule_id]["status"] == "resolved"
    history = alerts.history("s_svc", [rows[record.rule_id]["alert_id"]])
    assert [(h.to_status, h.actor) for h in history] == [
        ("firing", ""),
        ("resolved", "rule disabled"),
    ]
    assert history[0].value == 500
