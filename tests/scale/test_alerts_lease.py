"""Scale mode, alerts (must-show 5): one evaluator at a time through a Redis lease; when
the holder dies another takes over within about one interval, continues from the stored
states and pending deliveries, and no state change is notified twice.

Two evaluators in one test process share one store — as two workers share a ClickHouse
server (embedded chdb allows one process per store) — and a real redis-server. A death
is simulated by cancelling every task of the holder without releasing its lease (what a
SIGKILL leaves behind in Redis). `test_a_killed_worker_hands_over_the_lease` then shows
the hand-over between two real `beacon worker` processes and a SIGKILL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio

from app.alerts.lease import Claims, Lease
from app.alerts.metrics import IngestHealth, MetricReader
from app.alerts.rules import RuleSpec, check_rule
from app.alerts.service import AlertService
from app.alerts.store import AlertStore, RuleRecord, new_rule_id
from app.config import Settings
from app.scale.keys import Keys
from app.store.client import Store
from tests.alerts.receivers import HttpReceiver
from tests.scale.support import ScaleProcess, new_prefix
from tests.support import BeaconProcess

INTERVAL = 1.0


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver().start()
    yield http
    http.stop()


async def until(condition: Callable[[], Awaitable[Any] | Any], within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = condition()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {within}s")


async def die(service: AlertService) -> None:
    """A crash: every task stops where it is; the lease is not released."""
    tasks = [*service._tasks, *service.notifier._tasks]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_the_standby_takes_over_and_nothing_is_notified_twice(
    store: Store, redis_url: str, prefix: str, receiver: HttpReceiver
) -> None:
    settings = Settings(
        alerts_interval=INTERVAL,
        alerts_allow_private=True,
        alerts_retry_seconds=0.3,
        alerts_max_attempts=50,
        alerts_timeout_seconds=2,
    )
    backlog = {"value": 0}
    alerts = AlertStore(store)
    spec = RuleSpec(
        name="backlog", metric="spool_backlog", window="1m", op="gt", threshold=100,
        channels=[{"type": "webhook", "url": receiver.url + "/hook"}],  # type: ignore[list-item]
    )  # fmt: skip
    spec = check_rule(spec, site="s_scale", smtp_configured=False)
    record = RuleRecord(
        rule_id=new_rule_id(), site="s_scale", spec=spec,
        created_at=_now(), updated_at=_now(),
    )  # fmt: skip
    alerts.save_rule(record)

    def service(client: redis.asyncio.Redis) -> AlertService:
        health = IngestHealth(lambda: {}, lambda: float(backlog["value"]))
        return AlertService(
            settings, AlertStore(store), MetricReader(store, health),
            redis=client, keys=Keys(prefix),
        )  # fmt: skip

    async def run() -> None:
        client_a = redis.asyncio.Redis.from_url(redis_url)
        client_b = redis.asyncio.Redis.from_url(redis_url)
        first, second = service(client_a), service(client_b)
        first.start()
        await until(lambda: first.leader and first.rounds_done)
        second.start()
        await until(lambda: second.counts["lease_acquired"] == 0 and second.lease is not None)
        # The receiver is away: the firing notification stays pending, retried.
        receiver.failing.add("/hook")
        backlog["value"] = 500
        await until(lambda: any(r.path == "/hook" for r in receiver.received))
        assert not second.leader and second.rounds_done == 0
        await die(first)
        killed = time.monotonic()
        receiver.failing.clear()
        await until(lambda: second.rounds_done >= 1, within=10)
        print(f"\nthe standby evaluated {time.monotonic() - killed:.2f}s after the holder died")
        assert second.leader and second.counts["lease_acquired"] == 1
        firing = await until(lambda: receiver.at("/hook"))
        backlog["value"] = 0
        resolved = await until(lambda: receiver.at("/hook")[1:])
        await asyncio.sleep(0)  # let nothing else in flight go unnoticed below
        await second.stop()
        await client_a.aclose()
        await client_b.aclose()
        states = [r.json()["state"] for r in receiver.at("/hook")]
        assert states == ["firing", "resolved"], states
        assert firing[0].json()["alert_id"] == resolved[0].json()["alert_id"]
        # The store agrees: one firing and one resolve, each delivered once.
        rows = alerts.alert_rows("s_scale")
        assert len(rows) == 1 and rows[0]["status"] == "resolved"
        history = [
            (h.from_status, h.to_status) for h in alerts.history("s_scale", [rows[0]["alert_id"]])
        ]
        assert history == [("ok", "firing"), ("firing", "resolved")]
        deliveries = alerts.deliveries("s_scale", [rows[0]["alert_id"]])
        assert sorted(d["status"] for d in deliveries) == ["sent", "sent"]

    asyncio.run(run())


def test_a_change_is_claimed_once_and_the_lease_renewed_only_by_its_holder(
    redis_url: str, prefix: str
) -> None:
    async def run() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        keys = Keys(prefix)
        one, other = Lease(client, keys, 3.0), Lease(client, keys, 3.0)
        assert await one.acquire() and not await other.acquire()
        assert await one.renew() and not await other.renew()
        await other.release()  # not its lease: nothing happens
        assert await one.holder() == one.token
        await one.release()
        assert await other.acquire()
        claims_a, claims_b = Claims(client, keys, "a"), Claims(client, keys, "b")
        assert await claims_a.transition("r1", 7, "r1:7")
        assert await claims_a.transition("r1", 7, "r1:7")  # the same change again: fine
        assert not await claims_b.transition("r1", 7, "r1:7-other")
        assert await claims_a.begin_delivery("d1", 5) == "ok"
        assert await claims_b.begin_delivery("d1", 5) == "busy"
        await claims_a.end_delivery("d1", final=True)
        assert await claims_b.begin_delivery("d1", 5) == "done"
        await client.aclose()

    asyncio.run(run())


@pytest.mark.slow
def test_a_killed_worker_hands_over_the_lease(tmp_path: Path, redis_url: str) -> None:
    prefix = new_prefix()
    env = {"BEACON_ALERTS_INTERVAL": "2"}
    workers = [
        ScaleProcess("worker", tmp_path / f"w{i}", redis_url, prefix, env=env) for i in range(2)
    ]
    try:
        # Both start at once (each applies migrations to its own store first).
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda worker: worker.start(), workers))

        def leaders() -> list[BeaconProcess]:
            return [w for w in workers if w.process and w.process.poll() is None
                    and _metric(w, "beacon_alerts_leader") == 1]  # fmt: skip

        holder = _wait(lambda: leaders())[0]
        assert len(leaders()) == 1
        standby = next(w for w in workers if w is not holder)
        rounds = _metric(standby, "beacon_alerts_rounds_total")
        assert rounds == 0
        holder.kill()
        killed = time.monotonic()
        _wait(lambda: _metric(standby, "beacon_alerts_rounds_total") > 0)
        print(f"\nworker SIGKILLed; the other evaluated {time.monotonic() - killed:.2f}s later")
        assert _metric(standby, "beacon_alerts_leader") == 1
    finally:
        for worker in workers:
            worker.stop()


def _metric(process: BeaconProcess, name: str) -> float:
    for line in httpx.get(process.base_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def _wait(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)
