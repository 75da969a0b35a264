"""Scale-mode test support: a real `redis-server` on a free port, and Beacon's scale-mode
processes (`beacon worker`, `beacon serve` with Redis) as subprocesses.

Never the machine's Redis on 6379: tests start their own server (the binary at
`/usr/bin/redis-server`, or `redis-server` on PATH), with append-only persistence and
`appendfsync always`, so a Redis stop and start keeps what it acknowledged, as a
production Redis configured for Beacon's promise would. `BEACON_TEST_REDIS_URL` points
the tests at another Redis instead (then each test uses its own key prefix, and the one
test that stops Redis is skipped).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support import CHROME_UA, BeaconProcess, free_port

REDIS_BINARY = "/usr/bin/redis-server"
EVENTS_PER_REQUEST = 10


def redis_binary() -> str | None:
    if Path(REDIS_BINARY).exists():
        return REDIS_BINARY
    return shutil.which("redis-server")


class RedisServer:
    """One `redis-server` subprocess; `stop()` and `start()` keep its port and data."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory),
                 "--protected-mode", "yes"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        with redis.Redis.from_url(self.url, socket_connect_timeout=0.5) as client:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.process = None


class ScaleProcess(BeaconProcess):
    """`python -m app <command>` (worker or serve) in scale mode."""

    def __init__(
        self, command: str, data_dir: Path, redis_url: str, prefix: str, **kwargs: Any
    ) -> None:
        env = {
            "BEACON_REDIS_URL": redis_url,
            "BEACON_REDIS_PREFIX": prefix,
            "BEACON_STREAM_CLAIM_IDLE_MS": "3000",
            "BEACON_BATCH_MS": "200",
            **dict(kwargs.pop("env", None) or {}),
        }
        super().__init__(data_dir, env=env, command=command, **kwargs)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def new_prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


def wait_until_sites_known(ingest: BeaconProcess, count: int, timeout: float = 10.0) -> None:
    """Ingest processes learn sites from the registry the writer publishes into Redis."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(ingest.base_url + "/readyz", timeout=2).json().get("sites", 0) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"ingest at {ingest.base_url} did not learn {count} sites")


def batch_body(site: str, pid: str, url: str = "https://scale.test/a") -> dict[str, Any]:
    now = int(time.time() * 1000)
    events: list[dict[str, Any]] = [{"t": "pageview", "ts": now, "pid": pid, "url": url}]
    events += [
        {"t": "custom", "ts": now + i, "pid": pid, "name": f"e{i}"}
        for i in range(EVENTS_PER_REQUEST - 1)
    ]
    return {"site": site, "sid": pid[:20], "sent_at": now, "events": events}


class Load:
    """Threads sending 10-event batches to some URLs; remembers the pids answered 202."""

    def __init__(
        self, urls: list[str], site: str, threads: int = 6, headers: Mapping[str, str] | None = None
    ) -> None:
        self.urls = urls
        self.site = site
        self.acknowledged: list[str] = []
        self.statuses: Counter[str] = Counter()
        self.retry_after: list[str] = []
        self._headers = {"content-type": "text/plain", "user-agent": CHROME_UA, **(headers or {})}
        self._stop = threading.Event()
        self.threads = threads
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, index: int) -> None:
        with httpx.Client(timeout=10, headers=self._headers) as client:
            turn = index
            while not self._stop.is_set():
                url = self.urls[turn % len(self.urls)] + "/api/event"
                turn += 1
                pid = uuid.uuid4().hex
                try:
                    response = client.post(url, json=batch_body(self.site, pid))
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    time.sleep(0.05)
                    continue
                self.statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    self.acknowledged.append(pid)
                elif response.status_code == 503:
                    self.retry_after.append(response.headers.get("retry-after", ""))
                    time.sleep(0.05)

    def count(self, status: str) -> int:
        return self.statuses[status]


def assert_stored_exactly_once(
    writer: BeaconProcess, site: Any, acknowledged: list[str], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every acknowledged batch is stored with all its events, and nothing twice."""
    acked = set(acknowledged)
    assert len(acked) == len(acknowledged)

    def all_there(rows: list[dict[str, Any]]) -> bool:
        return acked <= {row["pid"] for row in rows}

    rows = writer.wait_events(site, all_there, timeout=timeout)
    per_pid = Counter(str(row["pid"]) for row in rows)
    missing = [pid for pid in acked if per_pid[pid] != EVENTS_PER_REQUEST]
    assert not missing, f"{len(missing)} acknowledged batches not stored exactly once"
    # Nothing twice, acknowledged or not (a request cut off by a kill may be stored once
    # without its 202 having arrived, never twice).
    assert max(per_pid.values()) == EVENTS_PER_REQUEST
    assert len({(r["pid"], r["type"], r["name"]) for r in rows}) == len(rows)
    return rows


def environment_redis() -> str | None:
    return os.environ.get("BEACON_TEST_REDIS_URL") or None
