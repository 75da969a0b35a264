"""Real captured stack traces (tests/triage/fixtures/captured_stacks.json) for the tests.

Each case names its source (`<repository> <path>`, the constant there has the same name);
the stacks are copied verbatim, the expected frames are Beacon's own.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

FIXTURES = Path(__file__).parent / "fixtures"


class CapturedStack(msgspec.Struct, frozen=True):
    name: str
    source: str
    engine: str
    type: str
    message: str
    stack: str
    frames: list[tuple[str, str, int | None, int | None, bool]]


class _File(msgspec.Struct):
    about: str
    cases: list[CapturedStack]


def load_captured() -> dict[str, CapturedStack]:
    raw = (FIXTURES / "captured_stacks.json").read_bytes()
    return {case.name: case for case in msgspec.json.decode(raw, type=_File).cases}


CAPTURED = load_captured()
