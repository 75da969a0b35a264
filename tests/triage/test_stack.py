"""Stack parsing on real captured traces from Chrome/Edge, Firefox, Safari (and IE/Opera
as printed by V8-like engines), plus the normalizations the fingerprint relies on."""

from __future__ import annotations

import pytest

from app.triage.stack import Frame, frame_function, module_of, parse_stack
from tests.triage.fixtures import CAPTURED, CapturedStack


def _shape(frames: list[Frame]) -> list[tuple[str, str, int | None, int | None, bool]]:
    return [(f.function, f.module, f.line, f.col, f.in_app) for f in frames]


@pytest.mark.parametrize("case", CAPTURED.values(), ids=list(CAPTURED))
def test_parses_captured_stack(case: CapturedStack) -> None:
    assert _shape(parse_stack(case.stack)) == [tuple(frame) for frame in case.frames]


def test_fixture_covers_every_engine_family() -> None:
    engines = {case.engine for case in CAPTURED.values()}
    assert {"chrome", "edge", "firefox", "safari"} <= engines
    assert all(
        case.source.startswith(("getsentry/", "stacktracejs/")) for case in CAPTURED.values()
    )


def test_v8_frames_keep_name_location_and_position() -> None:
    frames = parse_stack(CAPTURED["CHROME73_NATIVE_CODE_EXCEPTION"].stack)
    assert frames[0] == Frame(
        function="fooIterator",
        module="test",
        filename="/test",
        abs_path="http://localhost:5000/test",
        line=20,
        col=17,
        in_app=True,
    )
    assert frames[1].native and frames[1].function == "Array.map" and not frames[1].in_app


def test_v8_eval_frames_point_at_the_calling_script() -> None:
    frames = parse_stack(CAPTURED["CHROME_48_EVAL"].stack)
    assert [f.abs_path for f in frames] == ["http://localhost:8080/file.js"] * 5
    assert [f.function for f in frames[:3]] == ["baz", "foo", "eval"]


def test_gecko_eval_frames_point_at_the_calling_script() -> None:
    frames = parse_stack(CAPTURED["FIREFOX_43_EVAL"].stack)
    assert frames[0].abs_path == "http://localhost:8080/file.js"
    assert (frames[0].line, frames[0].col) == (26, None)


def test_url_with_parentheses_is_one_location() -> None:
    frames = parse_stack(CAPTURED["CHROME_BRACES_URL"].stack)
    assert frames[0].abs_path == "http://localhost:5000/(some)/(thing)/index.html"
    assert frames[1].abs_path == "http://localhost:5000/(group)/[route]/script.js"


def test_message_header_lines_are_not_frames() -> None:
    frames = parse_stack(CAPTURED["SECURITY_ERROR"].stack)
    assert all("Blocked a frame" not in f.abs_path for f in frames)
    assert [f.function for f in frames if f.in_app] == ["playTimer.current"]


def test_extensions_cdns_node_modules_and_native_are_not_in_app() -> None:
    stack = (
        "TypeError: x\n"
        "    at a (chrome-extension://abcdefghijklmnop/content.js:1:2)\n"
        "    at b (moz-extension://2d3f-77/inject.js:3:4)\n"
        "    at c (https://cdn.jsdelivr.net/npm/vue@3/dist/vue.global.prod.js:1:5)\n"
        "    at d (https://unpkg.com/react@18/umd/react.production.min.js:9:9)\n"
        "    at e (https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js:2:3)\n"
        "    at f (https://shop.example/node_modules/.vite/deps/vue.js?v=1a2b3c:1:1)\n"
        "    at g (https://shop.example/assets/polyfills-3f2a9c1b.js:1:1)\n"
        "    at Array.forEach (<anonymous>)\n"
        "    at h (https://shop.example/assets/app.js:1:1)"
    )
    frames = parse_stack(stack)
    assert [f.in_app for f in frames] == [False] * 8 + [True]


@pytest.mark.parametrize(
    ("url", "module"),
    [
        ("https://shop.example/assets/app-BkF3x9aZ.js", "assets/app"),
        ("https://shop.example/assets/app-DQjzbAhb.js", "assets/app"),  # Vite hash, no digit
        ("https://shop.example/assets/app-B_k3-x9a.js", "assets/app"),  # Vite hash with - and _
        ("https://shop.example/static/js/main.3f2a9c1b.js", "static/js/main"),
        ("https://shop.example/static/js/main.3f2a9c1b.js?v=2#x", "static/js/main"),
        ("https://shop.example/static/js/787.3f2a9c1b.chunk.js", "static/js/<chunk>"),
        (
            "https://shop.example/_next/static/chunks/pages/cart-3f2a9c1b12ab34cd.js",
            "_next/static/chunks/pages/cart",
        ),
        ("https://shop.example/js/vendor.min.js", "js/vendor"),
        ("webpack:///./src/cart.js", "src/cart"),
        ("http://localhost:5173/src/main.ts?t=1700000000", "src/main"),
        ("https://shop.example/assets/pages-HomePage.js", "assets/pages-HomePage"),  # a word
        ("https://shop.example/", "/"),
    ],
)
def test_module_drops_host_query_extension_and_build_hashes(url: str, module: str) -> None:
    assert module_of(url) == module


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Object.renderCart", "renderCart"),
        ("async renderCart", "renderCart"),
        ("new Cart", "Cart"),
        ("Foo.prototype.testMethod", "testMethod"),
        ("Object.d [as add]", "d"),
        ("async*loadPage", "loadPage"),
        ("promise callback*loadPage", "loadPage"),
        ("test/<", "?"),
        ("[2]</Bar.prototype._baz/</<", "?"),
        ("bar(1)", "bar"),
        ("(null)", "?"),
        ("I.e.fn.(anonymous function) [as index]", "?"),
        ("Anonymous function", "?"),
        ("global code", "?"),
        ("", "?"),
    ],
)
def test_function_names_normalize_across_engines(raw: str, normalized: str) -> None:
    assert frame_function(raw) == normalized


def test_garbage_parses_to_nothing() -> None:
    assert parse_stack("") == []
    assert parse_stack("not a stack at all") == []
    assert parse_stack("\x00\n\n::::") == []
