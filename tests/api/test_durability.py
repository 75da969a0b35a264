"""A 202 is a promise: SIGKILL under load loses nothing acknowledged, stores nothing twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support import CHROME_UA, BeaconProcess

pytestmark = pytest.mark.slow

EVENTS_PER_REQUEST = 10


def _load(
    server: BeaconProcess,
    site: str,
    acknowledged: list[str],
    stop: threading.Event,
    errors: Counter[str],
) -> None:
    """Send 10-event batches until stopped; remember the pids of those answered 202."""
    with httpx.Client(
        base_url=server.base_url,
        timeout=10,
        headers={"content-type": "text/plain", "user-agent": CHROME_UA},
    ) as client:
        while not stop.is_set():
            pid = uuid.uuid4().hex
            now = int(time.time() * 1000)
            events = [{"t": "pageview", "ts": now, "pid": pid, "url": "https://kill.test/a"}]
            events += [
                {"t": "custom", "ts": now + i, "pid": pid, "name": f"e{i}"}
                for i in range(EVENTS_PER_REQUEST - 1)
            ]
            body = {"site": site, "sid": pid[:20], "sent_at": now, "events": events}
            try:
                response = client.post(
                    "/api/event", json=body, headers={"content-type": "text/plain"}
                )
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                time.sleep(0.05)
                continue
            if response.status_code == 202:
                acknowledged.append(pid)
            else:
                errors[str(response.status_code)] += 1


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = BeaconProcess(data, env={"BEACON_BATCH_MS": "300"}).start()
    site = server.add_site("kill.test")
    acknowledged: list[str] = []
    errors: Counter[str] = Counter()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_load, args=(server, site.site, acknowledged, stop, errors))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    try:
        # Kill once the load has run a while (a count, not a time: shared machines are slow).
        deadline = time.monotonic() + 60
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        acked_before_kill = len(acknowledged)
        server.kill()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    acked = set(acknowledged)
    assert acked_before_kill > 100, f"the load barely ran: {acked_before_kill} requests, {errors}"

    restarted = BeaconProcess(data, port=server.port).start()
    try:

        def all_there(rows: list[dict[str, object]]) -> bool:
            return acked <= {row["pid"] for row in rows}

        rows = restarted.wait_events(site, all_there, timeout=30)
        per_pid = Counter(str(row["pid"]) for row in rows)
        missing = [pid for pid in acked if per_pid[pid] != EVENTS_PER_REQUEST]
        assert not missing, f"{len(missing)} acknowledged batches not stored exactly once"
        # Nothing twice, acknowledged or not (a request cut off by the kill may be stored
        # once without its 202 having arrived, never twice).
        assert max(per_pid.values()) == EVENTS_PER_REQUEST
        assert len({(r["pid"], r["type"], r["name"]) for r in rows}) == len(rows)
    finally:
        restarted.stop()
