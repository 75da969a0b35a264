"""Protocol v1 decoding: every event type, constraints, and the error paths."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from app.ingest.schema import (
    MAX_EVENTS,
    Click,
    Custom,
    Engagement,
    ErrorEvent,
    PageView,
    Scroll,
    Submit,
    Timing,
    Vital,
    decode_batch,
)

EVERY_TYPE: list[dict[str, Any]] = [
    {
        "t": "pageview",
        "ts": 1,
        "pid": "p",
        "url": "https://a.test/",
        "ref": "https://b.test/",
        "title": "T",
        "nav": "spa",
        "vw": 1,
        "vh": 2,
        "sw": 3,
        "sh": 4,
        "lang": "de",
    },
    {
        "t": "vital",
        "ts": 1,
        "pid": "p",
        "name": "INP",
        "value": 48,
        "rating": "good",
        "id": "v5-1",
        "target": "button",
        "attr": {"type": "pointer", "delay": 3.5},
    },
    {
        "t": "timing",
        "ts": 1,
        "pid": "p",
        "dns": 1,
        "tcp": 2,
        "tls": 3,
        "req": 4,
        "res": 5,
        "dom": 6,
        "load": 7,
        "transfer": 8,
        "longtasks": 2,
        "tbt": 120,
    },
    {
        "t": "error",
        "ts": 1,
        "pid": "p",
        "kind": "fetch",
        "message": "500",
        "method": "GET",
        "req_url": "https://a.test/api",
        "status": 500,
        "duration": 12.5,
    },
    {"t": "click", "ts": 1, "pid": "p", "target": "a.x", "text": "Go", "rage": True},
    {"t": "submit", "ts": 1, "pid": "p", "target": "form#signup"},
    {"t": "scroll", "ts": 1, "pid": "p", "depth": 75},
    {"t": "engagement", "ts": 1, "pid": "p", "engaged_ms": 12000, "scroll": 80},
    {
        "t": "custom",
        "ts": 1,
        "pid": "p",
        "name": "signup",
        "props": {"a": "b", "n": 2, "ok": False},
    },
]


def _body(events: list[dict[str, Any]], **envelope: Any) -> bytes:
    return json.dumps(
        {"site": "s_x", "sid": "sid1", "sent_at": 5, "events": events, **envelope}
    ).encode()


def test_every_event_type_decodes_to_its_struct() -> None:
    batch = decode_batch(_body(EVERY_TYPE, uid="user-9"))
    assert [type(e) for e in batch.events] == [
        PageView,
        Vital,
        Timing,
        ErrorEvent,
        Click,
        Submit,
        Scroll,
        Engagement,
        Custom,
    ]
    page = batch.events[0]
    assert isinstance(page, PageView) and page.referrer == "https://b.test/"
    assert batch.uid == "user-9"


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    batch = decode_batch(_body([{**EVERY_TYPE[0], "future_field": [1, 2]}], v=2))
    assert isinstance(batch.events[0], PageView)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([{"t": "nope", "ts": 1, "pid": "p"}], "Invalid value 'nope' - at `$.events[0].t`"),
        (
            [{"t": "scroll", "ts": 1, "pid": "p", "depth": 101}],
            "Expected `int` <= 100 - at `$.events[0].depth`",
        ),
        (
            [{"t": "vital", "ts": 1, "pid": "p", "name": "XYZ", "value": 1}],
            "Invalid enum value 'XYZ' - at `$.events[0].name`",
        ),
        (
            [{"t": "vital", "ts": 1, "pid": "p", "name": "LCP", "value": -1}],
            "Expected `float` >= 0.0 - at `$.events[0].value`",
        ),
        (
            [{"t": "pageview", "ts": -5, "pid": "p", "url": "u"}],
            "Expected `int` >= 0 - at `$.events[0].ts`",
        ),
        (
            [{"t": "pageview", "ts": 1, "pid": "", "url": "u"}],
            "Expected `str` of length >= 1 - at `$.events[0].pid`",
        ),
        (
            [{"t": "click", "ts": 1, "pid": "p"}],
            "Object missing required field `target` - at `$.events[0]`",
        ),
        ([], "Expected `array` of length >= 1 - at `$.events`"),
        (
            [EVERY_TYPE[6]] * (MAX_EVENTS + 1),
            f"Expected `array` of length <= {MAX_EVENTS} - at `$.events`",
        ),
    ],
)
def test_invalid_batches_fail_with_message_and_path(
    events: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(msgspec.ValidationError) as failure:
        decode_batch(_body(events))
    assert str(failure.value) == message


def test_custom_props_are_bounded() -> None:
    props = {f"k{i}": i for i in range(33)}
    with pytest.raises(msgspec.ValidationError, match=r"\$\.events\[0\]\.props"):
        decode_batch(_body([{"t": "custom", "ts": 1, "pid": "p", "name": "x", "props": props}]))
