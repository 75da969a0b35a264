"""Test support: Beacon as a real subprocess on a free port, and a client for it.

Black-box tests (the Sentry Relay and Datasette way) start the real server with
`python -m app serve`, talk HTTP to it, and read what it stored through its own raw
export API. The CLI runs as a subprocess too, against the same data directory, which
exercises the admin socket a running server listens on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

REPO = Path(__file__).resolve().parents[1]
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Site(msgspec.Struct, frozen=True):
    site: str
    token: str


class BeaconProcess:
    """One `beacon serve` (or another `beacon <command>`) subprocess over a data directory
    that outlives it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        command: str = "serve",
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "BEACON_DATA_DIR": str(data_dir),
            "BEACON_PORT": str(self.port),
            "BEACON_BATCH_MS": "100",
            "BEACON_LOG_LEVEL": "WARNING",
            # Black-box tests send from loopback at load-test rates; the rate limits
            # have tests of their own, which set them (tests/api/test_ingest_edges.py).
            "BEACON_RATE_LIMIT_IP_PER_SECOND": "0",
            **(env or {}),
        }
        self.log_path = data_dir.parent / f"{command}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def start(self, timeout: float = 60.0) -> BeaconProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", self.command],
            cwd=REPO,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"beacon {self.command} exited early:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"beacon {self.command} did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._close_log()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the graceful shutdown that flushes."""
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- CLI ------------------------------------------------------------------------

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def add_site(self, domain: str, origins: list[str] | None = None) -> Site:
        args = ["site", "add", domain, "--json"]
        for origin in origins or []:
            args += ["--origin", origin]
        done = self.cli(*args)
        if done.returncode != 0:
            raise RuntimeError(f"site add failed: {done.stderr}")
        return msgspec.json.decode(done.stdout, type=Site)

    # -- HTTP -----------------------------------------------------------------------

    def send(
        self,
        body: bytes | dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/plain",
    ) -> httpx.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        merged = {"content-type": content_type, "user-agent": CHROME_UA, **(headers or {})}
        return httpx.post(self.base_url + "/api/event", content=data, headers=merged, timeout=30)

    def events(self, site: Site, **params: Any) -> list[dict[str, Any]]:
        """Every stored event of the site (following the export's cursor past a page)."""
        params.setdefault("limit", 100_000)
        params.setdefault("from", (dt.date.today() - dt.timedelta(days=30)).isoformat())
        events: list[dict[str, Any]] = []
        while True:
            response = httpx.get(
                f"{self.base_url}/api/v1/sites/{site.site}/events",
                params=params,
                headers={"authorization": f"Bearer {site.token}"},
                timeout=60,
            )
            response.raise_for_status()
            page = response.json()
            events += page["events"]
            if page["count"] < params["limit"] or "offset" in params:
                return events
            params["cursor"] = page["next"]

    def wait_events(
        self,
        site: Site,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 10.0,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Poll the export until `predicate(rows)` holds; return the rows (or fail)."""
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = self.events(site, **params)
            if predicate(rows):
                return rows
            time.sleep(0.1)
        raise AssertionError(f"condition not met within {timeout}s; last rows: {rows[-20:]}")


CHROMIUM = Path("/usr/bin/chromium")
# The launch recipe that works on these machines (shared/BROWSER-NOTES.md): no sandbox as
# root, no calls home, no automation flag, and a regular Chrome user agent both ways —
# beacons sent while a page is left go out from the browser process, which ignores
# Playwright's per-page override (and would say HeadlessChrome, which the bot filter drops).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-blink-features=AutomationControlled",
    f"--user-agent={CHROME_UA}",
]


@contextmanager
def chromium_context(profile_dir: Path, **options: Any) -> Iterator[Any]:
    """A Playwright persistent context of the system Chromium (skips without it)."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip("system chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            user_agent=CHROME_UA,
            **options,
        )
        try:
            yield context
        finally:
            context.close()
