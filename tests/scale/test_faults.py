"""Scale mode under faults, with real processes and a real redis-server.

Each test runs `beacon worker` (the writer, owning embedded chdb, serving the query API)
and one or two `beacon serve` ingest processes in scale mode, loads them with 10-event
batches from several threads, injects one fault, and then checks through the writer's
export API that every batch answered 202 is stored exactly once (all ten events, none
twice), and that no batch is stored twice even among those whose answer was lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from app.scale.keys import GROUP, Keys
from tests.scale.support import (
    Load,
    RedisServer,
    ScaleProcess,
    assert_stored_exactly_once,
    new_prefix,
    wait_until_sites_known,
)
from tests.support import BeaconProcess, Site

pytestmark = pytest.mark.slow


class Deployment:
    def __init__(self, root: Path, redis_url: str, ingest_count: int = 1) -> None:
        self.root = root
        self.redis_url = redis_url
        self.prefix = new_prefix()
        self.keys = Keys(self.prefix)
        self.worker = self.new_worker()
        self.ingest: list[ScaleProcess] = []
        self._ingest_count = ingest_count
        self.site: Site | None = None

    def new_worker(self, port: int | None = None) -> ScaleProcess:
        return ScaleProcess("worker", self.root / "writer", self.redis_url, self.prefix, port=port)

    def start(self) -> Deployment:
        self.worker.start()
        self.site = self.worker.add_site("scale.test")
        for i in range(self._ingest_count):
            ingest = ScaleProcess("serve", self.root / f"ingest{i}", self.redis_url, self.prefix)
            self.ingest.append(ingest.start())
            wait_until_sites_known(ingest, 1)
        return self

    def restart_worker(self) -> None:
        self.worker = self.new_worker(port=self.worker.port).start()

    def urls(self) -> list[str]:
        return [p.base_url for p in self.ingest]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def stop(self) -> None:
        for process in [*self.ingest, self.worker]:
            process.stop()


@pytest.fixture
def deployment(tmp_path: Path, redis_url: str) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path, redis_url).start()
    yield deployment
    deployment.stop()


def _metric(process: BeaconProcess, name: str) -> float:
    for line in httpx.get(process.base_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_sigkill_a_worker_mid_batch_its_entries_are_reclaimed_and_stored_once(
    deployment: Deployment,
) -> None:
    assert deployment.site is not None
    with deployment.redis() as client, Load(deployment.urls(), deployment.site.site) as load:
        time.sleep(2.0)
        # Kill while a batch is in flight: its manifest is written and it is not acknowledged.
        deadline = time.monotonic() + 10
        while client.hlen(deployment.keys.inflight) == 0 and time.monotonic() < deadline:
            pass
        deployment.worker.kill()
        held = client.xpending(deployment.keys.stream, GROUP)["pending"]
        time.sleep(1.0)  # ingest keeps acknowledging while no writer runs
    assert held > 0, "the killed worker held no entries: the kill was not mid-batch"
    assert len(load.acknowledged) > 200, load.statuses

    deployment.restart_worker()
    # The killed worker may have inserted its batch before dying: then every event is
    # already stored, and the entries stay pending until they are idle long enough to be
    # reclaimed. Wait for the reclaim, then check that it stored nothing twice.
    deadline = time.monotonic() + 60
    with deployment.redis() as client:
        while time.monotonic() < deadline and (
            _metric(deployment.worker, "beacon_stream_reclaimed_entries_total") < held
            or client.xpending(deployment.keys.stream, GROUP)["pending"] > 0
        ):
            time.sleep(0.2)
        assert _metric(deployment.worker, "beacon_stream_reclaimed_entries_total") >= held
        assert client.xpending(deployment.keys.stream, GROUP)["pending"] == 0
        assert client.hlen(deployment.keys.inflight) == 0
    assert_stored_exactly_once(deployment.worker, deployment.site, load.acknowledged)


def test_store_away_for_30_seconds_the_backlog_grows_then_drains(deployment: Deployment) -> None:
    """Simulates ClickHouse being unreachable for 30 s by stopping the only writer.

    With embedded chdb the writer process *is* the store's only client, so "the store is
    away" is made real by there being no process able to insert for 30 s: the worker is
    stopped (SIGTERM, after it finished its batch in hand), ingest keeps acknowledging
    into Redis, and the stream grows; then a new worker starts over the same data and
    drains the backlog while the load goes on.
    """
    assert deployment.site is not None
    with deployment.redis() as client, Load(deployment.urls(), deployment.site.site) as load:
        time.sleep(1.0)
        deployment.worker.stop()
        length_at_stop = client.xlen(deployment.keys.stream)
        acked_at_stop = len(load.acknowledged)
        time.sleep(30.0)
        length_after_outage = client.xlen(deployment.keys.stream)
        acked_during_outage = len(load.acknowledged) - acked_at_stop
        deployment.restart_worker()
        time.sleep(2.0)
    assert load.count("503") == 0, load.statuses  # the backlog never reached its limit
    assert acked_during_outage > 500, load.statuses
    # A request in flight when the stream length was read may already be in it and be
    # counted as acknowledged only afterwards: at most one per load thread.
    in_flight = load.threads
    assert length_after_outage >= length_at_stop + acked_during_outage - in_flight
    assert_stored_exactly_once(deployment.worker, deployment.site, load.acknowledged)
    deadline = time.monotonic() + 30
    with deployment.redis() as client:
        while client.xlen(deployment.keys.stream) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.xlen(deployment.keys.stream) == 0  # drained and trimmed


def test_redis_stopped_and_started_answers_503_meanwhile_and_recovers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    deployment = Deployment(tmp_path, redis_server.url).start()
    assert deployment.site is not None
    try:
        with Load(deployment.urls(), deployment.site.site) as load:
            time.sleep(1.5)
            redis_server.stop()
            time.sleep(3.0)
            refused = load.count("503")
            acked_while_down = len(load.acknowledged)
            time.sleep(1.0)
            assert len(load.acknowledged) == acked_while_down  # nothing is acknowledged
            redis_server.start()
            acked_at_restart = len(load.acknowledged)
            time.sleep(4.0)
        assert refused > 10, load.statuses
        assert load.retry_after and all(value.isdigit() for value in load.retry_after)
        assert len(load.acknowledged) > acked_at_restart + 100, "ingest did not recover"
        assert_stored_exactly_once(deployment.worker, deployment.site, load.acknowledged)
    finally:
        deployment.stop()


def test_sigkill_an_ingest_process_under_load_every_202_is_stored_once(
    tmp_path: Path, redis_url: str
) -> None:
    deployment = Deployment(tmp_path, redis_url, ingest_count=2).start()
    assert deployment.site is not None
    try:
        with Load(deployment.urls(), deployment.site.site, threads=8) as load:
            time.sleep(3.0)
            deployment.ingest[0].kill()
            acked_at_kill = len(load.acknowledged)
            time.sleep(3.0)
        assert acked_at_kill > 50, load.statuses
        assert len(load.acknowledged) > acked_at_kill + 50  # the other one went on
        assert load.count("ConnectError") > 0  # the load did go on hitting the dead one
        assert_stored_exactly_once(deployment.worker, deployment.site, load.acknowledged)
    finally:
        deployment.stop()
