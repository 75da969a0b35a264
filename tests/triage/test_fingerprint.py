"""Grouping: which error events are one issue (DESIGN §6), on real captured stacks."""

from __future__ import annotations

import re

import pytest

from app.triage.fingerprint import Fingerprint, fingerprint_error
from app.triage.parameterize import parameterize, path_template
from tests.triage.fixtures import CAPTURED


def error(
    stack: str = "",
    *,
    type: str = "TypeError",
    message: str = "x is undefined",
    kind: str = "error",
    file: str = "",
    req_url: str = "",
    status: int | None = None,
    method: str = "",
) -> Fingerprint:
    return fingerprint_error(
        kind=kind,
        type=type,
        message=message,
        stack=stack,
        file=file,
        req_url=req_url,
        status=status,
        method=method,
    )


# A production stack as Chrome prints it for a Vite build, then the same code after a
# redeploy: new content hash in the file name, every line and column moved.
CHROME_BUILD_1 = """TypeError: Cannot read properties of undefined (reading 'price')
    at Object.renderCart (https://shop.example/assets/cart-BkF3x9aZ.js:1:2345)
    at async loadPage (https://shop.example/assets/app-Cq81zzP1.js:1:999)
    at Array.forEach (<anonymous>)
    at https://cdn.jsdelivr.net/npm/lodash@4/lodash.min.js:3:10"""
CHROME_BUILD_2 = """TypeError: Cannot read properties of undefined (reading 'price')
    at Object.renderCart (https://shop.example/assets/cart-DQjzb0hb.js:3:7781)
    at async loadPage (https://shop.example/assets/app-a1b2c3d4.js:2:1204)
    at Array.forEach (<anonymous>)
    at https://cdn.jsdelivr.net/npm/lodash@4/lodash.min.js:3:10"""
FIREFOX_BUILD_1 = """renderCart@https://shop.example/assets/cart-BkF3x9aZ.js:1:2351
async*loadPage@https://shop.example/assets/app-Cq81zzP1.js:1:1003
forEach@[native code]"""
SAFARI_BUILD_1 = """renderCart@https://shop.example/assets/cart-BkF3x9aZ.js:1:2351
loadPage@https://shop.example/assets/app-Cq81zzP1.js:1:1003
forEach@[native code]"""


def test_hash_is_16_lowercase_hex_and_culprit_never_empty() -> None:
    cases = [error(c.stack, type=c.type, message=c.message) for c in CAPTURED.values()]
    cases += [
        error(message="Script error.", type=""),
        error(kind="fetch", req_url="", status=None),
        error(kind="resource", message=""),
        error(message="", type=""),
    ]
    for fingerprint in cases:
        assert re.fullmatch(r"[0-9a-f]{16}", fingerprint.hash)
        assert fingerprint.culprit
        assert fingerprint.title


def test_stack_groups_on_type_and_in_app_frames() -> None:
    fingerprint = error(CHROME_BUILD_1)
    assert fingerprint.kind == "app"
    assert fingerprint.culprit == "renderCart (assets/cart)"
    assert fingerprint.title == "TypeError: x is undefined"


def test_same_error_with_different_ids_urls_numbers_in_message_is_one_issue() -> None:
    with_stack = {
        error(CHROME_BUILD_1, message=f"Cannot read properties of undefined (reading '{key}')").hash
        for key in ("price", "qty", "sku_19")
    }
    assert len(with_stack) == 1
    without_stack = {
        error(message=message, type="Error").hash
        for message in (
            "Order 1234 for jane@example.com failed at https://api.shop.example/o/1234?x=1",
            "Order 98 for bob.smith+x@mail.example.org failed at http://api.shop.example/o/98",
        )
    }
    assert len(without_stack) == 1
    uuids = {
        error(message=f"Session {sid} expired (0x{n:x}) after {n}.5s", type="Error").hash
        for sid, n in (
            ("0b7e2f1c-9a34-4c1e-8f6a-3f2a9c1b7d10", 4096),
            ("7d10c8e2-1111-4abc-9def-000011112222", 77),
        )
    }
    assert len(uuids) == 1


def test_redeploy_with_new_hashes_lines_and_columns_is_one_issue() -> None:
    assert error(CHROME_BUILD_1).hash == error(CHROME_BUILD_2).hash
    react = CAPTURED["REACT_PRODUCTION_ERROR"].stack
    redeployed = re.sub(r":1:(\d+)", lambda m: f":2:{int(m.group(1)) + 517}", react).replace(
        "foo.chunk.js", "foo.9c1b3f2a.chunk.js"
    )
    assert redeployed != react
    assert error(react, type="Error").hash == error(redeployed, type="Error").hash


def test_other_page_url_and_script_file_do_not_split_an_issue() -> None:
    # `file` is the script/page the browser reported (window.onerror): with a stack it is
    # not part of the fingerprint; the user agent is never an input at all.
    assert (
        error(CHROME_BUILD_1, file="https://shop.example/cart?id=1").hash
        == error(CHROME_BUILD_1, file="https://shop.example/checkout").hash
    )


@pytest.mark.parametrize(
    "names",
    [
        (
            "CHROME73_EVAL_EXCEPTION",
            "FIREFOX66_EVAL_EXCEPTION",
            "SAFARI12_EVAL_EXCEPTION",
            "EDGE44_EVAL_EXCEPTION",
        ),
        (
            "CHROME73_NATIVE_CODE_EXCEPTION",
            "FIREFOX66_NATIVE_CODE_EXCEPTION",
            "SAFARI12_NATIVE_CODE_EXCEPTION",
            "EDGE44_NATIVE_CODE_EXCEPTION",
        ),
        ("CHROME_48_EVAL", "FIREFOX_43_EVAL"),
        ("OPERA_25", "SAFARI_8", "IE_11"),
    ],
)
def test_same_error_in_chrome_firefox_safari_is_one_issue(names: tuple[str, ...]) -> None:
    # Real stacks captured from the same test page in each browser: the messages differ
    # between engines ("Cannot read property 'undef' of null" / "null is not an object
    # (evaluating 'x.undef')"), the frames agree.
    hashes = {
        error(CAPTURED[n].stack, type="TypeError", message=CAPTURED[n].message).hash for n in names
    }
    assert len(hashes) == 1
    assert len({CAPTURED[n].engine for n in names}) == len(names)


def test_modern_engine_wordings_of_one_error_are_one_issue() -> None:
    chrome = error(CHROME_BUILD_1, message="Cannot read properties of undefined (reading 'price')")
    firefox = error(FIREFOX_BUILD_1, message='can\'t access property "price", item is undefined')
    safari = error(SAFARI_BUILD_1, message="undefined is not an object (evaluating 'item.price')")
    assert chrome.hash == firefox.hash == safari.hash


def test_different_type_is_another_issue() -> None:
    assert (
        error(CHROME_BUILD_1, type="TypeError").hash
        != error(CHROME_BUILD_1, type="RangeError").hash
    )


def test_different_in_app_function_is_another_issue() -> None:
    renamed = CHROME_BUILD_1.replace("Object.renderCart", "Object.renderWishlist")
    assert error(CHROME_BUILD_1).hash != error(renamed).hash
    moved = CHROME_BUILD_1.replace("/assets/cart-", "/assets/wishlist-")
    assert error(CHROME_BUILD_1).hash != error(moved).hash


def test_different_message_without_stack_is_another_issue() -> None:
    assert error(message="Order failed").hash != error(message="Payment failed").hash


def test_type_is_read_from_an_uncaught_message() -> None:
    onerror = error(type="", message="Uncaught TypeError: items.map is not a function")
    assert onerror.hash == error(type="TypeError", message="items.map is not a function").hash
    assert onerror.title == "TypeError: items.map is not a function"


def test_script_error_is_one_issue_whatever_the_file() -> None:
    a = error(type="", message="Script error.", file="https://widgets.example/a.js")
    b = error(type="", message="Script error", file="")
    assert a.hash == b.hash
    assert a.kind == "script_error"
    assert a.hash != error(type="", message="Script failed.").hash


def test_chunk_load_failures_are_one_issue() -> None:
    variants = [
        error(type="ChunkLoadError", message="Loading chunk 787 failed."),
        error(type="Error", message="Loading CSS chunk 12 failed. (/static/css/12.3f2a.css)"),
        error(
            type="TypeError",
            message="Failed to fetch dynamically imported module: https://x.example/assets/a-1.js",
        ),
        error(type="TypeError", message="error loading dynamically imported module"),
        error(type="TypeError", message="Importing a module script failed."),
    ]
    assert {v.hash for v in variants} == {variants[0].hash}
    assert {v.kind for v in variants} == {"chunk_load"}


def test_extension_errors_are_apart_from_app_errors() -> None:
    case = CAPTURED["SAFARI_EXTENSION_FRAMES_ONLY"]
    ext = error(case.stack, type=case.type, message=case.message)
    assert ext.kind == "extension"
    assert ext.culprit.startswith("isClaimed (safari-extension://")
    app_frames = case.stack.replace(
        "safari-extension://com.grammarly.safari.extension.ext2-W8F64X92K3/ee7759dd",
        "https://shop.example/js",
    )
    assert error(app_frames, type=case.type, message=case.message).kind == "app"
    assert error(app_frames, type=case.type).hash != ext.hash


def test_non_error_rejections_group_by_parameterized_message() -> None:
    a = error(
        kind="rejection", type="", message="Non-Error promise rejection captured with value: 42"
    )
    b = error(
        kind="rejection", type="", message="Non-Error promise rejection captured with value: 7"
    )
    c = error(
        kind="rejection", type="", message="Object captured as promise rejection with keys: a"
    )
    assert a.kind == "rejection"
    assert a.hash == b.hash != c.hash


def test_network_failures_group_by_method_status_class_and_path_template() -> None:
    base = {"kind": "fetch", "type": "", "message": "HTTP 503"}
    a = error(**base, method="post", status=503, req_url="https://api.x.example/cart/42/items?x=1")
    b = error(**base, method="POST", status=502, req_url="https://api.x.example/cart/77/items")
    c = error(**base, method="GET", status=503, req_url="https://api.x.example/cart/42/items")
    d = error(**base, method="POST", status=404, req_url="https://api.x.example/cart/42/items")
    xhr_failed = error(kind="xhr", type="", message="", method="GET", status=0, req_url="/api/me")
    assert a.hash == b.hash
    assert len({a.hash, c.hash, d.hash, xhr_failed.hash}) == 4
    assert a.kind == "network" and a.title == "POST api.x.example/cart/:id/items 5xx"
    assert xhr_failed.title == "GET /api/me failed"


def test_resource_failures_group_by_path_without_hash_or_query() -> None:
    a = error(
        kind="resource", type="", message="", file="https://x.example/img/logo.3f2a9c1b.png?v=2"
    )
    b = error(kind="resource", type="", message="", file="https://x.example/img/logo.9d8e7f6a.png")
    c = error(kind="resource", type="", message="", file="https://x.example/img/hero.png")
    assert a.hash == b.hash != c.hash
    assert a.culprit == "img/logo.png"


def test_kinds_are_apart_even_on_equal_text() -> None:
    assert (
        error(type="", message="boom").hash != error(kind="rejection", type="", message="boom").hash
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Cannot read properties of undefined (reading 'x')",
            "Cannot read properties of undefined (reading '<str>')",
        ),
        (
            'can\'t access property "x", o is undefined',
            'can\'t access property "<str>", o is undefined',
        ),
        ("user jane.doe@example.com not found", "user <email> not found"),
        ("GET https://api.example.com/v1/items?id=3 failed", "GET <url> failed"),
        ("from 10.0.0.12 and 2001:db8::1", "from <ip> and <ip>"),
        ("id 0b7e2f1c-9a34-4c1e-8f6a-3f2a9c1b7d10", "id <uuid>"),
        ("token deadbeef12345678 at 0x1f", "token <hex> at <hex>"),
        ("took 12.5 ms, 3 retries, -4 left", "took <float> ms, <int> retries, <int> left"),
        ("on 2024-05-01T10:00:00Z", "on <date>"),
        ("item42 and order1234", "item42 and order<int>"),
        ("  spaced\n  out  ", "spaced out"),
    ],
)
def test_parameterize(message: str, expected: str) -> None:
    assert parameterize(message) == expected


@pytest.mark.parametrize(
    ("url", "template"),
    [
        (
            "https://API.x.example/v1/users/42/orders/9?x=1#y",
            "api.x.example/v1/users/:id/orders/:id",
        ),
        ("/api/items/0b7e2f1c-9a34-4c1e-8f6a-3f2a9c1b7d10", "/api/items/:id"),
        ("//cdn.example/a/3f2a9c1b7d10e4f5/x.json", "cdn.example/a/:id/x.json"),
        ("/api/search", "/api/search"),
    ],
)
def test_path_template(url: str, template: str) -> None:
    assert path_template(url) == template
