"""Screenshots of the overview, web vitals and an issue: light, dark and 390 px wide.

Taken on every run (so that the pages render at each size without console errors); with
`BEACON_UPDATE_SCREENSHOTS=1` they are written to `deploy/screenshots/`, which the README
links, and otherwise to a temporary directory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, BeaconProcess
from tests.web.conftest import Dashboard, DemoSite

pytestmark = pytest.mark.browser

SHOTS = REPO / "deploy" / "screenshots"
LOOKS = {"light": (1280, "light"), "dark": (1280, "dark"), "390px": (390, "light")}


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def test_screenshots_of_overview_vitals_and_an_issue(
    chromium: Any,
    beacon_server: BeaconProcess,
    demo_site: DemoSite,
    tmp_path: Path,
) -> None:
    target = SHOTS if os.environ.get("BEACON_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    board = Dashboard(chromium, beacon_server)
    base = f"/sites/{demo_site.site}"
    pages = {
        "overview": (base + "?period=7d&tz=UTC&interval=hour", "#chart .chart[data-drawn]"),
        "vitals": (base + "/vitals?period=7d&tz=UTC&interval=hour", "#trend .chart[data-drawn]"),
        "issue": (
            base + f"/issues/{demo_site.cart_issue}?period=7d&tz=UTC",
            "#histogram .chart[data-drawn]",
        ),
    }
    try:
        board.login(demo_site.as_site)
        for look, (width, scheme) in LOOKS.items():
            board.page.set_viewport_size({"width": width, "height": 900})
            board.page.emulate_media(color_scheme=scheme)
            for name, (path, ready) in pages.items():
                board.goto(path)
                board.page.wait_for_selector(ready)
                board.page.wait_for_function(
                    "() => !document.querySelector('[aria-busy=true]')", timeout=15_000
                )
                shot = target / f"{name}-{look}.png"
                board.page.screenshot(path=str(shot), full_page=True)
                shot_width, shot_height = _png_size(shot)
                assert shot_width == width and shot_height >= 900, (shot, shot_width)
                # Nothing wider than the viewport: usable at 390 px without sideways scroll.
                overflow = board.page.evaluate(
                    "() => document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, (name, look, overflow)
        assert board.problems == []
    finally:
        board.page.emulate_media(color_scheme="light")
        board.close()
