"""Processes the benchmarks start and stop: Beacon servers, a bare app, `redis-server`.

Every process is started here with its own log file, waited for by polling (never a
fixed sleep), and stopped by its own pid (SIGTERM, then SIGKILL after a timeout).
Everything listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import redis

__all__ = ["free_port", "site_add", "start_redis", "start_server", "stop", "wait_ready"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    args: Sequence[str], env: Mapping[str, str], port: int, log: Path, timeout: float = 90
) -> subprocess.Popen[bytes]:
    """Start `args`, and return once `/healthz` on `port` answers."""
    with open(log, "ab") as handle:
        process = subprocess.Popen(list(args), env=dict(env), stdout=handle, stderr=handle)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[-1]} exited with {process.returncode}; see {log}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"server did not start; see {log}")


def wait_ready(base: str, timeout: float = 60) -> None:
    """Until `/readyz` answers 200 ten times in a row (several workers share a port)."""
    deadline = time.monotonic() + timeout
    ready = 0
    while time.monotonic() < deadline and ready < 10:
        try:
            ready = ready + 1 if httpx.get(base + "/readyz", timeout=2).status_code == 200 else 0
        except httpx.HTTPError:
            ready = 0
        time.sleep(0.1)
    if ready < 10:
        raise RuntimeError(f"{base} did not become ready")


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def site_add(env: Mapping[str, str], domain: str = "bench.test") -> tuple[str, str]:
    """Register a site through the CLI (to the running server, or the store itself)."""
    added = subprocess.run(
        [sys.executable, "-m", "app", "site", "add", domain, "--origin", f"https://{domain}",
         "--json"],
        env=dict(env), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    result = json.loads(added.stdout)
    return result["site"], result["token"]


def redis_binary() -> str | None:
    if Path("/usr/bin/redis-server").exists():
        return "/usr/bin/redis-server"
    return shutil.which("redis-server")


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `redis-server` of our own with `appendfsync always` (the spool's promise)."""
    binary = redis_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "yes", "--appendfsync", "always", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    with redis.Redis.from_url(url) as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return process, url
            except redis.ConnectionError:
                time.sleep(0.05)
    stop(process)
    raise RuntimeError("redis-server did not start")
