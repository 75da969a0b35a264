"""Stopping the notifier while a notification is under way: the receiver's answer is
recorded before the notifier stops, so the delivery is `sent` and not sent again by the
next evaluator (a cancellation between the answer and the record left it `pending`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from app.alerts.channels import SmtpSettings
from app.alerts.notice import Notice
from app.alerts.notify import Notifier
from app.alerts.rules import RuleSpec, check_rule
from app.alerts.service import delivery_rows
from app.alerts.store import AlertStore, RuleRecord, new_rule_id
from app.store.client import Store
from tests.alerts.receivers import HttpReceiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(hang_seconds=30).start()
    yield receiver
    receiver.stop()


async def _until(condition: Callable[[], Any], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_stopping_waits_for_the_attempt_under_way(store: Store, receiver: HttpReceiver) -> None:
    alerts = AlertStore(store)
    now = dt.datetime.now(dt.UTC)
    spec = msgspec.convert(
        {"name": "slow receiver", "metric": "spool_backlog", "window": "1m", "op": "gt",
         "threshold": 1, "channels": [{"type": "webhook", "url": receiver.url + "/hang"}]},
        RuleSpec,
    )  # fmt: skip
    rule = RuleRecord(
        rule_id=new_rule_id(), site="s_stop", spec=check_rule(spec, site="s_stop",
        smtp_configured=False), created_at=now, updated_at=now,
    )  # fmt: skip
    notice = Notice(
        alert_id="a1", rule_id=rule.rule_id, rule=spec.name, site="s_stop", state="firing",
        severity="warning", metric="spool_backlog", value=5.0, threshold=1.0,
        started_at=now.isoformat(), resolved_at=None, url="http://beacon.test/alerts/a1",
    )  # fmt: skip
    rows = delivery_rows(rule, notice, "t1", now, kind="firing")
    alerts.save_deliveries(rows)

    async def run() -> None:
        notifier = Notifier(
            alerts, allow_private=True, timeout=10, smtp=SmtpSettings(), max_attempts=3,
            retry_seconds=0.2,
        )  # fmt: skip
        notifier.start()
        notifier.submit(rows)
        await _until(lambda: receiver.received)  # the receiver holds its answer
        stopping = asyncio.get_running_loop().create_task(notifier.stop())
        await asyncio.sleep(0.1)
        assert not stopping.done()  # waiting for the attempt, not cancelling it
        receiver.release()
        await stopping

    asyncio.run(run())
    [delivery] = alerts.deliveries("s_stop", ["a1"])
    assert (delivery["status"], delivery["attempts"]) == ("sent", 1)
