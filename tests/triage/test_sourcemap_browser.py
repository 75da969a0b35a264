"""Source-map round trip in a real browser (DESIGN §7 issue detail, de-minified stacks).

A small two-file program is bundled and minified here with esbuild (from js-snippet's
devDependencies) into a temporary directory; a page served on a free port loads the Beacon
snippet and the bundle; the bundle's map is uploaded for the page's release; the system
Chromium clicks the button that throws. The issue detail must then name the original
file, function and line of the frame that threw, not the minified ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.support import REPO, BeaconProcess, Site, chromium_context, free_port

pytestmark = pytest.mark.browser

SNIPPET_DIR = REPO / "js-snippet"
SNIPPET = SNIPPET_DIR / "dist" / "beacon.min.js"
ESBUILD = SNIPPET_DIR / "node_modules" / ".bin" / "esbuild"
BUNDLE_PATH = "/assets/shop.min.js"

CART_JS = """\
// Cart rendering: prices of the items in the cart.
export function formatPrice(item) {
  const amount = item.price.amount; // throws for an item without a price
  return amount.toFixed(2) + " " + item.price.currency;
}

export function renderCart(items) {
  const lines = [];
  for (const item of items) {
    lines.push(formatPrice(item));
  }
  return lines.join("\\n");
}
"""
MAIN_JS = """\
import { renderCart } from "./cart.js";

function onCheckout() {
  const items = [{ price: { amount: 3, currency: "EUR" } }, { name: "gift card" }];
  document.getElementById("out").textContent = renderCart(items);
}

document.getElementById("checkout").addEventListener("click", onCheckout);
"""


def _line_of(source: str, marker: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if marker in line)


class _Pages:
    """A threaded HTTP server for the test page, the snippet and the bundle."""

    def __init__(self, files: dict[str, tuple[bytes, str]]) -> None:
        self.files = files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body, ctype = files.get(self.path.split("?", 1)[0], (b"not found", "text/plain"))
                self.send_response(200 if self.path.split("?", 1)[0] in files else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(minified bundle, its source map), built by esbuild in a temporary directory."""
    if not ESBUILD.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=SNIPPET_DIR,
            check=True,
            timeout=300,
        )
    if not SNIPPET.exists():
        subprocess.run(["npm", "run", "--silent", "build"], cwd=SNIPPET_DIR, check=True)
    work = tmp_path_factory.mktemp("bundle")
    (work / "src").mkdir()
    (work / "src" / "cart.js").write_text(CART_JS)
    (work / "src" / "main.js").write_text(MAIN_JS)
    subprocess.run(
        [
            str(ESBUILD),
            "src/main.js",
            "--bundle",
            "--minify",
            "--sourcemap",
            "--format=iife",
            "--outfile=shop.min.js",
        ],
        cwd=work,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return (work / "shop.min.js").read_bytes(), (work / "shop.min.js.map").read_bytes()


@pytest.fixture(scope="module")
def pages(bundle: tuple[bytes, bytes]) -> Iterator[_Pages]:
    minified, _map = bundle
    served = _Pages(
        {
            "/beacon.min.js": (SNIPPET.read_bytes(), "text/javascript"),
            BUNDLE_PATH: (minified, "text/javascript"),
        }
    )
    yield served
    served.close()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium_context(tmp_path_factory.mktemp("chromium")) as context:
        yield context


def _wait_for_issue(
    server: BeaconProcess, site: Site, predicate: Any, timeout: float = 20.0
) -> dict[str, Any]:
    """Poll the issue list until an issue matches `predicate`; return it."""
    headers = {"authorization": f"Bearer {site.token}"}
    deadline = time.monotonic() + timeout
    issues: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{server.base_url}/api/v1/sites/{site.site}/issues",
            params={"period": "24h", "status": "all"},
            headers=headers,
            timeout=30,
        )
        response.raise_for_status()
        issues = response.json()["issues"]
        found = next((issue for issue in issues if predicate(issue)), None)
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no matching issue within {timeout}s; issues: {issues}")


def test_error_from_minified_bundle_shows_original_file_function_and_line(
    beacon_server: BeaconProcess,
    pages: _Pages,
    chromium: Any,
    bundle: tuple[bytes, bytes],
) -> None:
    site = beacon_server.add_site("maps.test", origins=[pages.origin])
    release = "shop-" + uuid.uuid4().hex[:8]
    headers = {"authorization": f"Bearer {site.token}"}
    _minified, source_map = bundle
    uploaded = httpx.post(
        f"{beacon_server.base_url}/api/v1/sites/{site.site}/sourcemaps",
        params={"release": release, "file": pages.origin + BUNDLE_PATH},
        content=source_map,
        headers={**headers, "content-type": "application/json"},
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["file"] == BUNDLE_PATH
    assert "src/cart.js" in json.loads(source_map)["sources"]

    pages.files["/checkout"] = (
        (
            "<!doctype html><html><head><meta charset=utf-8><title>Checkout</title>"
            f'<script src="/beacon.min.js" data-site="{site.site}" '
            f'data-endpoint="{beacon_server.base_url}/api/event" '
            f'data-release="{release}" data-localhost></script></head>'
            '<body><button id="checkout">Checkout</button><pre id="out"></pre>'
            f'<script src="{BUNDLE_PATH}"></script></body></html>'
        ).encode(),
        "text/html; charset=utf-8",
    )
    page = chromium.new_page()
    thrown: list[str] = []
    page.on("pageerror", lambda exc: thrown.append(str(exc)))
    try:
        page.goto(pages.origin + "/checkout", wait_until="load")
        page.click("#checkout")
        page.wait_for_timeout(200)
        assert any("amount" in message for message in thrown), thrown
        page.goto("about:blank")  # leaving the page sends the final beacons
        page.wait_for_timeout(1000)
    finally:
        page.close()

    issue = _wait_for_issue(
        beacon_server, site, lambda i: i["type"] == "TypeError" and "amount" in i["message"]
    )
    response = httpx.get(
        f"{beacon_server.base_url}/api/v1/sites/{site.site}/issues/{issue['issue_id']}",
        params={"period": "24h"},
        headers=headers,
        timeout=30,
    )
    response.raise_for_status()
    detail = response.json()
    assert detail["recent_events"][0]["release"] == release
    in_app = [frame for frame in detail["stack"] if frame["in_app"]]
    assert in_app, detail["stack"]
    top = in_app[0]
    assert top == detail["culprit_frame"]
    # As reported: the minified bundle's URL, line 1 (everything is on one line).
    assert top["abs_path"].endswith(BUNDLE_PATH) and top["line"] == 1, top
    # De-minified: the original file, function and line of the throwing statement.
    assert top["mapped"], top
    assert top["original_file"] == "src/cart.js", top
    assert top["original_function"] == "formatPrice", top
    assert top["original_line"] == _line_of(CART_JS, "item.price.amount"), top
    assert (
        top["context_line"]
        == "  const amount = item.price.amount; // throws for an item without a price"
    )
    # The caller frames map back too. A frame's original name comes from its caller's
    # call site (app/triage/sourcemaps.py), so the listener the browser called keeps its
    # minified name; its file and line are original.
    caller, listener = in_app[1], in_app[2]
    assert (caller["original_file"], caller["original_function"]) == ("src/cart.js", "renderCart")
    assert caller["original_line"] == _line_of(CART_JS, "lines.push(formatPrice(item))")
    assert listener["original_file"] == "src/main.js", listener
    assert listener["original_line"] == _line_of(MAIN_JS, "renderCart(items)"), listener
