"""The benchmark's own tools against a real Beacon: the C load generator at a fixed
rate (ids renewed on every pass over its pool), the probe inside the server, and the
/proc CPU sampling by component."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bench import procs
from app.bench.cpu import Sampler, cpu_by_component
from app.bench.ingest import bench_env
from app.bench.loadgen import run_load, write_pool
from app.bench.traffic import pool

pytestmark = pytest.mark.slow


def _wait(condition, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_fixed_rate_load_on_a_probed_server(tmp_path: Path) -> None:
    port = procs.free_port()
    env = {**bench_env(tmp_path / "data"), "BEACON_PORT": str(port), "BEACON_BATCH_MS": "100"}
    probe = tmp_path / "probe"
    server = procs.start_server(
        [sys.executable, "-m", "app.bench.probe", str(probe), "--", "serve"],
        env, port, tmp_path / "server.log",
    )  # fmt: skip
    try:
        site, token = procs.site_add(env)
        traffic = pool("realistic", sessions=4, seed=5)
        requests = traffic.for_site(site)
        write_pool(tmp_path / "pool.bin", requests)
        with Sampler({"beacon": server.pid}) as sampler:
            result = run_load(
                port, tmp_path / "pool.bin", connections=4, seconds=1.5, rate=40,
                records=tmp_path / "load.rec",
            )  # fmt: skip
        assert (result.sent, result.answered, result.errors, result.behind) == (60, 60, 0, 0)
        assert result.statuses == {"202": 60}
        assert result.passes >= 60 // len(requests)
        assert 0 < result.overall.p50_ms <= result.overall.max_ms
        assert sum(w.requests for w in result.windows) == 60

        # Every pass over the pool is new traffic: its sessions are new.
        pool_sids = {re.search(rb'"sid": "(\w+)@', r.data)[1] for r in requests}  # type: ignore[index]

        def stored_sids() -> set[str]:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/sites/{site}/events",
                params={"limit": "100000"},
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            ).json()
            return {e["sid"] for e in answer["events"]}

        sids = _wait(lambda: (s := stored_sids()) and len(s) > len(pool_sids) and s)
        assert all(re.fullmatch(r"\w{14}[0-9a-f]{6}", sid) for sid in sids)
        assert {sid[:14].encode() for sid in sids} <= pool_sids
        assert {sid[-6:] for sid in sids} >= {"000000", "000001"}

        # The probe saw the process from inside: thread names, chdb figures.
        names = json.loads(_wait(lambda: (probe / "threads.json").exists())
                           and (probe / "threads.json").read_text())  # fmt: skip
        assert {"beacon-batcher", "beacon-probe"} <= set(names.values())

        def lines() -> list[dict[str, Any]]:
            text = (probe / "probe.jsonl").read_text()
            return [json.loads(line) for line in text.splitlines()]

        # Every 2 s the probe reads chdb's own tables: the inserts' parts show there.
        chdb = _wait(lambda: [
            line["chdb"] for line in lines()
            if (line.get("chdb") or {}).get("parts", {}).get("events", 0) >= 1
        ])  # fmt: skip
        assert chdb[-1]["events"]["InsertQuery"] >= 1
        assert all(line["lag_max_ms"] >= 0 and len(line["fsync"]) == 3 for line in lines())
        used = cpu_by_component(sampler.samples[0], sampler.samples[-1], "beacon", {
            int(k): v for k, v in names.items()
        })  # fmt: skip
        assert used.get("event loop", 0) > 0
        assert set(used) <= {
            "event loop", "batcher (+ chdb insert, views)", "spool I/O", "probe",
            "query threads", "other Python threads", "chdb pool", "chdb merges",
            "chdb background", "other threads",
        }  # fmt: skip
    finally:
        procs.stop(server)
    assert os.path.exists(tmp_path / "server.log")
