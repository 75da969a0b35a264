"""`beacon bench scale`: embedded mode against scale mode, in one run, on this machine.

Phase 1, embedded: one `beacon serve` (spool with `fsync`, batcher, chdb in-process).
Phase 2, scale: a `redis-server` of its own (append-only file with `appendfsync always`,
the same durability promise as the spool's `fsync`), `beacon serve --workers N` (N
stateless ingest processes sharing the port) and one `beacon worker` (stream → chdb).
Both get the same `wrk` load (10-event batches, many user agents and client IPs, the same
concurrency and duration). Reported per phase: req/s and events/s acknowledged, latency
p50/p99, non-2xx answers, events *stored* per second during the load window, the backlog
sampled every second (spool bytes, or stream entries) — "sustained" means it did not
grow — and how long after the load everything was stored.

Everything runs on 127.0.0.1, bounded by `--seconds`; every process started here is
stopped here, by its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import redis

from app.bench import _LUA, USER_AGENTS, WrkResult, _metrics, _serve, free_port, make_bodies
from app.bench import run_wrk as _run_wrk

__all__ = ["PhaseResult", "run_scale_bench"]


class PhaseResult(msgspec.Struct):
    mode: str
    requests_per_second: float
    events_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: str
    stored_events_in_window: float
    stored_events_per_second: float
    backlog_samples: list[float]
    backlog_unit: str
    all_stored_seconds_after_load: float


def _site_add(env: dict[str, str]) -> str:
    added = subprocess.run(
        [sys.executable, "-m", "app", "site", "add", "bench.test",
         "--origin", "https://bench.test", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    site: str = json.loads(added.stdout)["site"]
    return site


def _script(work: Path, name: str, site: str, events: int) -> Path:
    bodies = work / f"{name}-bodies.txt"
    bodies.write_bytes(b"\n".join(make_bodies(site, 2000, events)) + b"\n")
    agents = "{" + ", ".join(json.dumps(a) for a in USER_AGENTS) + "}"
    script = work / f"{name}.lua"
    script.write_text(_LUA % {"bodies": bodies, "agents": agents})
    return script


def _sampled_load(
    base: str, script: Path, args: argparse.Namespace, backlog: Callable[[], float]
) -> tuple[WrkResult, list[float]]:
    """wrk for `--seconds`, sampling the backlog every second meanwhile."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append(backlog())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = _run_wrk(base, script, args.seconds, args.concurrency)
    finally:
        stop.set()
        sampler.join()
    return result, samples


def _phase(
    mode: str,
    loaded: WrkResult,
    events: int,
    seconds: float,
    stored_in_window: float,
    samples: list[float],
    unit: str,
    lag: float,
) -> PhaseResult:
    return PhaseResult(
        mode=mode,
        requests_per_second=loaded.requests_per_second,
        events_per_second=loaded.requests_per_second * events,
        p50_ms=loaded.p50_ms,
        p99_ms=loaded.p99_ms,
        non_2xx=loaded.non_2xx,
        errors=loaded.errors,
        stored_events_in_window=stored_in_window,
        stored_events_per_second=stored_in_window / seconds,
        backlog_samples=samples,
        backlog_unit=unit,
        all_stored_seconds_after_load=round(lag, 2),
    )


def _stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _embedded(work: Path, args: argparse.Namespace, base_env: dict[str, str]) -> PhaseResult:
    env = {**base_env, "BEACON_DATA_DIR": str(work / "embedded")}
    script = _script(work, "embedded", _site_add(env), args.events)
    port = free_port()
    env["BEACON_PORT"] = str(port)
    base = f"http://127.0.0.1:{port}"
    server = _serve([sys.executable, "-m", "app", "serve"], env, port, work / "embedded.log")
    try:
        _run_wrk(base, script, 2, args.concurrency)  # warm-up
        before = _metrics(base)["beacon_rows_inserted_total"]
        loaded, samples = _sampled_load(
            base, script, args, lambda: _metrics(base)["beacon_spool_backlog_bytes"]
        )
        in_window = _metrics(base)["beacon_rows_inserted_total"] - before
        ended = time.monotonic()
        while time.monotonic() - ended < 120:
            after = _metrics(base)
            if after["beacon_rows_inserted_total"] >= after["beacon_events_accepted_total"]:
                break
            time.sleep(0.05)
        lag = time.monotonic() - ended
    finally:
        _stop(server)
    return _phase(
        "embedded", loaded, args.events, args.seconds, in_window, samples, "spool bytes", lag
    )


def _start_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    directory = work / "redis"
    directory.mkdir()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "yes", "--appendfsync", "always", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    with redis.Redis.from_url(url) as client:
        for _ in range(100):
            try:
                client.ping()
                return process, url
            except redis.ConnectionError:
                time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def _wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    ready = 0
    while time.monotonic() < deadline and ready < 10:  # several answers: several workers
        try:
            ready = ready + 1 if httpx.get(base + "/readyz", timeout=2).status_code == 200 else 0
        except httpx.HTTPError:
            ready = 0
        time.sleep(0.1)
    if ready < 10:
        raise RuntimeError(f"{base} did not become ready")


def _scale(work: Path, args: argparse.Namespace, base_env: dict[str, str]) -> PhaseResult:
    redis_process, url = _start_redis(work)
    env = {**base_env, "BEACON_DATA_DIR": str(work / "scale"), "BEACON_REDIS_URL": url}
    worker_port, ingest_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = [redis_process]
    try:
        worker = _serve(
            [sys.executable, "-m", "app", "worker", "--port", str(worker_port)],
            env, worker_port, work / "worker.log",
        )  # fmt: skip
        processes.append(worker)
        worker_base = f"http://127.0.0.1:{worker_port}"
        _wait_ready(worker_base)
        script = _script(work, "scale", _site_add(env), args.events)
        ingest = _serve(
            [sys.executable, "-m", "app", "serve", "--port", str(ingest_port),
             "--workers", str(args.ingest)],
            env, ingest_port, work / "ingest.log",
        )  # fmt: skip
        processes.append(ingest)
        base = f"http://127.0.0.1:{ingest_port}"
        _wait_ready(base)
        with redis.Redis.from_url(url) as client:
            stream = f"{env.get('BEACON_REDIS_PREFIX', 'beacon')}:{{stream}}"
            _run_wrk(base, script, 2, args.concurrency)  # warm-up
            before = _metrics(worker_base)["beacon_rows_inserted_total"]
            loaded, samples = _sampled_load(base, script, args, lambda: float(client.xlen(stream)))
            in_window = _metrics(worker_base)["beacon_rows_inserted_total"] - before
            ended = time.monotonic()
            while client.xlen(stream) > 0 and time.monotonic() - ended < 120:
                time.sleep(0.05)
            lag = time.monotonic() - ended
    finally:
        for process in reversed(processes):
            _stop(process)
    mode = f"scale ({args.ingest} ingest + 1 worker)"
    return _phase(
        mode, loaded, args.events, args.seconds, in_window, samples, "stream entries", lag
    )


def _print(results: list[PhaseResult], args: argparse.Namespace) -> None:
    print(
        f"{args.seconds:.0f} s per phase, {args.concurrency} connections, "
        f"{args.events} events per request, {os.cpu_count()} CPUs"
    )
    head = ("", "req/s", "events/s", "stored/s", "p50 ms", "p99 ms", "non-2xx", "drain s")
    print(f"{head[0]:34}" + "".join(f"{h:>10}" for h in head[1:]))
    for r in results:
        print(
            f"{r.mode:34}{r.requests_per_second:>10.0f}{r.events_per_second:>10.0f}"
            f"{r.stored_events_per_second:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{r.non_2xx:>10}{r.all_stored_seconds_after_load:>10.2f}"
        )
    for r in results:
        samples = " ".join(f"{v:.0f}" for v in r.backlog_samples)
        print(f"{r.mode} backlog ({r.backlog_unit}), each second: {samples}")


def run_scale_bench(args: argparse.Namespace) -> int:
    missing = [tool for tool in ("wrk", "redis-server") if shutil.which(tool) is None]
    if missing and not (missing == ["redis-server"] and Path("/usr/bin/redis-server").exists()):
        print(f"beacon bench scale needs {', '.join(missing)}", file=sys.stderr)
        return 2
    base_env = {
        **os.environ,
        "BEACON_CLIENT_IP_HEADER": "X-Forwarded-For",
        "BEACON_LOG_LEVEL": "WARNING",
    }
    base_env.pop("BEACON_REDIS_URL", None)
    with tempfile.TemporaryDirectory(prefix="beacon-bench-scale-") as tmp:
        work = Path(tmp)
        results = [_embedded(work, args, base_env), _scale(work, args, base_env)]
    if args.json:
        print(json.dumps([msgspec.to_builtins(r) for r in results], indent=2))
    else:
        _print(results, args)
    return 0
