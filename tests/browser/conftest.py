"""Fixtures for the snippet in real headless Chromium (system package, via Playwright).

- `snippet`: builds `js-snippet/dist/beacon.min.js` with npm (once per session).
- `web`: a small threaded HTTP server on a free port that serves test pages, the built
  snippet, Google's `web-vitals` (the oracle), a photo-like image, failing URLs, a local
  collector (`/collect`, for tests where nothing may be sent) and a proxy to Beacon
  (`/proxy`, which can be told to fail).
- `browser`: one persistent Chromium context per module, with a regular Chrome user agent
  and the automation flag off, so Beacon's bot filter keeps the visits.
- `site`: a Beacon site on the session's `beacon_server` whose origin is the test server.

Delivery is always checked in Beacon's store (the raw export), never through Playwright's
request events: requests sent while a page is left are invisible to Playwright.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support import REPO, BeaconProcess, Site, chromium_context, free_port

SNIPPET_DIR = REPO / "js-snippet"
DIST = SNIPPET_DIR / "dist" / "beacon.min.js"
WEB_VITALS = SNIPPET_DIR / "node_modules" / "web-vitals" / "dist" / "web-vitals.attribution.iife.js"

Rows = list[dict[str, Any]]


def _photo_png(width: int = 480, height: int = 320, seed: int = 7) -> bytes:
    """A noisy (high-entropy) PNG: Chromium ignores low-entropy images as LCP candidates."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


PHOTO = _photo_png()


class WebServer:
    """Test pages and helpers on http://127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.collected: list[dict[str, Any]] = []
        self.oracle: list[dict[str, Any]] = []
        self.proxy_target = ""
        self.proxy_fail = False
        self._lock = threading.Lock()
        self._count = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def page(
        self,
        body: str,
        *,
        head: str = "",
        attrs: dict[str, str | None] | None = None,
        path: str | None = None,
        oracle: bool = False,
        title: str = "Test page",
        before: str = "",
    ) -> str:
        """Register an HTML page with the snippet; return its URL.

        `attrs` are the snippet's data-* attributes (a value of None writes the bare
        attribute); `oracle` also loads web-vitals, which posts its final values here;
        `before` is markup placed before the snippet's script tag (e.g. the queue stub).
        """
        with self._lock:
            self._count += 1
            path = path or f"/page/{self._count}"
        tag_attrs = " ".join(
            f"data-{k}" if v is None else f'data-{k}="{v}"' for k, v in (attrs or {}).items()
        )
        oracle_html = ORACLE_SCRIPT if oracle else ""
        self.pages[path] = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f'<meta name="viewport" content="width=device-width">{oracle_html}{before}'
            f'<script src="/beacon.min.js" {tag_attrs}></script>{head}</head>'
            f"<body>{body}</body></html>"
        )
        return self.origin + path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self,
                status: int,
                body: bytes = b"",
                ctype: str = "text/plain",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")  # no-store would block the bfcache
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if "delay" in query:
                    time.sleep(int(query["delay"][0]) / 1000)
                if url.path in server.pages:
                    self._send(200, server.pages[url.path].encode(), "text/html; charset=utf-8")
                elif url.path == "/beacon.min.js":
                    self._send(200, DIST.read_bytes(), "text/javascript")
                elif url.path == "/web-vitals.js":
                    self._send(200, WEB_VITALS.read_bytes(), "text/javascript")
                elif url.path == "/photo.png":
                    self._send(200, PHOTO, "image/png")
                elif url.path.startswith("/status/"):
                    self._send(int(url.path.rsplit("/", 1)[1]), b"failed")
                else:
                    self._send(404, b"not found")

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if url.path == "/collect":
                    with server._lock:
                        server.collected.append(json.loads(body))
                    self._send(202, b"{}", "application/json")
                elif url.path == "/oracle":
                    with server._lock:
                        server.oracle.append(json.loads(body))
                    self._send(204)
                elif url.path == "/proxy":
                    if server.proxy_fail:
                        self._send(503, b"unavailable")
                        return
                    headers = {
                        "content-type": self.headers.get("Content-Type", "text/plain"),
                        "user-agent": self.headers.get("User-Agent", ""),
                        "origin": self.headers.get("Origin") or server.origin,
                    }
                    answer = httpx.post(server.proxy_target, content=body, headers=headers)
                    self._send(answer.status_code, answer.content, "application/json")
                elif url.path.startswith("/status/"):
                    self._send(int(url.path.rsplit("/", 1)[1]), b"failed")
                else:
                    self._send(404)

        return Handler


# web-vitals (attribution build) on the same page load as the snippet: every report is
# posted to /oracle with the values the tests compare against.
ORACLE_SCRIPT = """<script src="/web-vitals.js"></script><script>
(function () {
  // Sending costs a few ms; deferred (unless the page is hidden) so that it does not delay
  // the snippet's own callbacks in the same frame (bfcache restores measure frames).
  var send = function (body) { navigator.sendBeacon('/oracle', body); };
  var report = function (m) {
    var a = m.attribution || {};
    var body = JSON.stringify({
      path: location.pathname, name: m.name, value: m.value, id: m.id, nav: m.navigationType,
      target: a.target || a.largestShiftTarget || a.interactionTarget || '',
      type: a.interactionType || '', event: m.entries && m.entries[0] ? m.entries[0].name : ''
    });
    document.visibilityState === 'hidden' ? send(body) : setTimeout(send, 50, body);
  };
  ['onLCP', 'onCLS', 'onINP', 'onFCP', 'onTTFB'].forEach(function (f) {
    webVitals[f](report, { reportAllChanges: false });
  });
})();
</script>"""


def build_snippet() -> Path:
    """`npm ci` when node_modules is missing, then `npm run build`; the built file."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    if not (SNIPPET_DIR / "node_modules" / "esbuild").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=SNIPPET_DIR,
            check=True,
            timeout=300,
        )
    subprocess.run([npm, "run", "--silent", "build"], cwd=SNIPPET_DIR, check=True, timeout=120)
    return DIST


@pytest.fixture(scope="session")
def snippet() -> Path:
    return build_snippet()


@pytest.fixture(scope="session")
def web(snippet: Path) -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium_context(
        tmp_path_factory.mktemp("chromium"),
        # Playwright turns the back/forward cache off; the bfcache test needs it.
        ignore_default_args=["--disable-back-forward-cache"],
        viewport={"width": 1024, "height": 768},
    ) as context:
        yield context


@pytest.fixture(scope="module")
def site(beacon_server: BeaconProcess, web: WebServer) -> Site:
    web.proxy_target = beacon_server.base_url + "/api/event"
    return beacon_server.add_site("snippet.test", origins=[web.origin])


class Visit:
    """One browser tab on a test page, and the session it reported under."""

    def __init__(self, context: Any, url: str, init_script: str = "") -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        if init_script:
            self.page.add_init_script(init_script)
        self.page.goto(url, wait_until="load")

    @property
    def sid(self) -> str:
        value: str = self.page.evaluate("() => JSON.parse(sessionStorage.beacon).i")
        return value

    def leave(self) -> None:
        """Leave the page (pagehide, visibilitychange) so the final beacons go out."""
        self.page.goto("about:blank")
        self.page.wait_for_timeout(300)

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser: Any) -> Iterator[Callable[..., Visit]]:
    opened: list[Visit] = []

    def open_visit(url: str, init_script: str = "") -> Visit:
        v = Visit(browser, url, init_script)
        opened.append(v)
        return v

    yield open_visit
    for v in opened:
        v.close()


def of_type(rows: Rows, kind: str) -> Rows:
    return [r for r in rows if r["type"] == kind]
