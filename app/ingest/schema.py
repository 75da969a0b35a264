"""Ingest protocol v1: the wire shapes of `POST /api/event`, as msgspec Structs.

A request body is one `Batch`: an envelope (site key, session id, client clock, optional
user id) and 1 to 500 events, each a Struct in a union tagged by its `"t"` field. The
decoder is built once and is strict: wrong types, values out of range, unknown event
types and oversized strings fail with msgspec's message and JSON path, and nothing of
the batch is kept. Unknown *fields* are ignored so that clients may send optional
fields this server does not know yet (the protocol grows by adding, never renaming).

Times are milliseconds since the Unix epoch on the client clock; durations are
milliseconds. The field names here are the public contract documented in the README.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

__all__ = [
    "MAX_EVENTS",
    "Batch",
    "Click",
    "Custom",
    "Engagement",
    "ErrorEvent",
    "Event",
    "PageView",
    "Scroll",
    "Submit",
    "Timing",
    "Vital",
    "decode_batch",
]

MAX_EVENTS = 500

# Named constrained types (msgspec docs/constraints.rst).
EpochMs = Annotated[int, Meta(ge=0, le=2**53)]
Id = Annotated[str, Meta(min_length=1, max_length=64)]
Url = Annotated[str, Meta(max_length=4096)]
Label = Annotated[str, Meta(max_length=512)]
ShortText = Annotated[str, Meta(max_length=256)]
Message = Annotated[str, Meta(max_length=4096)]
Stack = Annotated[str, Meta(max_length=32768)]
Pixels = Annotated[int, Meta(ge=0, le=65535)]
Millis = Annotated[float, Meta(ge=0, le=86_400_000)]
Percent = Annotated[int, Meta(ge=0, le=100)]
Count = Annotated[int, Meta(ge=0, le=1_000_000)]
PropKey = Annotated[str, Meta(min_length=1, max_length=64)]
AttrMap = Annotated[
    dict[PropKey, Annotated[str, Meta(max_length=1024)] | float], Meta(max_length=32)
]
PropMap = Annotated[
    dict[PropKey, Annotated[str, Meta(max_length=1024)] | bool | float], Meta(max_length=32)
]

Navigation = Literal["navigate", "reload", "back_forward", "prerender", "spa", "restore"]
VitalName = Literal["LCP", "INP", "CLS", "FCP", "TTFB", "FID"]
Rating = Literal["good", "needs-improvement", "poor"]
ErrorKind = Literal["error", "rejection", "fetch", "xhr", "resource", "console"]


class _Event(msgspec.Struct, tag_field="t", kw_only=True, frozen=True, gc=False):
    ts: EpochMs
    pid: Id
    #: The page's URL, for an event whose page view was sent in another batch and may
    #: have reached another ingest process (optional; the server also remembers pids).
    url: Url = ""


class PageView(_Event, tag="pageview"):
    url: Annotated[str, Meta(min_length=1, max_length=4096)]
    referrer: Url = field(name="ref", default="")
    title: Label = ""
    nav: Navigation = "navigate"
    vw: Pixels = 0
    vh: Pixels = 0
    sw: Pixels = 0
    sh: Pixels = 0
    lang: Annotated[str, Meta(max_length=35)] = ""


class Vital(_Event, tag="vital"):
    name: VitalName
    value: Annotated[float, Meta(ge=0, le=3_600_000)]
    rating: Rating | None = None
    id: Annotated[str, Meta(max_length=128)] = ""
    target: Label = ""
    attr: AttrMap = {}


class Timing(_Event, tag="timing"):
    dns: Millis = 0.0
    tcp: Millis = 0.0
    tls: Millis = 0.0
    req: Millis = 0.0
    res: Millis = 0.0
    dom: Millis = 0.0
    load: Millis = 0.0
    transfer: Annotated[int, Meta(ge=0, le=2**40)] = 0
    longtasks: Count = 0
    tbt: Millis = 0.0


class ErrorEvent(_Event, tag="error"):
    kind: ErrorKind
    message: Message
    type: Annotated[str, Meta(max_length=128)] = ""
    stack: Stack = ""
    file: Url = ""
    line: Count = 0
    col: Count = 0
    release: Annotated[str, Meta(max_length=128)] = ""
    method: Annotated[str, Meta(max_length=16)] = ""
    req_url: Url = ""
    status: Annotated[int, Meta(ge=0, le=999)] = 0
    duration: Millis = 0.0


class Click(_Event, tag="click"):
    target: Label
    text: ShortText = ""
    rage: bool | Count = False


class Submit(_Event, tag="submit"):
    target: Label


class Scroll(_Event, tag="scroll"):
    depth: Percent


class Engagement(_Event, tag="engagement"):
    engaged_ms: Annotated[int, Meta(ge=0, le=86_400_000)]
    scroll: Percent = 0


class Custom(_Event, tag="custom"):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    props: PropMap = {}


Event = PageView | Vital | Timing | ErrorEvent | Click | Submit | Scroll | Engagement | Custom


class Batch(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    site: Annotated[str, Meta(min_length=1, max_length=64)]
    sid: Id
    sent_at: EpochMs
    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_EVENTS)]
    uid: Annotated[str, Meta(max_length=128)] = ""


_batch_decoder = msgspec.json.Decoder(Batch)


def decode_batch(body: bytes) -> Batch:
    """Decode and validate one request body; raises msgspec.DecodeError/ValidationError."""
    return _batch_decoder.decode(body)
