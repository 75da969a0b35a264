"""Route templates: group concrete paths into the routes that served them.

`/users/123/orders/98765` → `/users/:id/orders/:id`, `/p/9f8e2c1a7b` → `/p/:hash`,
`/t/550e8400-e29b-41d4-a716-446655440000` → `/t/:uuid`. A segment is replaced only when
it looks generated (numbers, UUIDs, hex or random-looking tokens, dates), never a word or
a slug, so `/blog/hello-world` stays as it is. Applied at ingest; the template is stored
beside the path so every breakdown can use either.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["route_template"]

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        ":uuid",
        re.compile(
            r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
            r"[0-9a-fA-F]{12}$"
        ),
    ),
    (":date", re.compile(r"^\d{4}-\d{2}-\d{2}$")),
    (":id", re.compile(r"^\d+$")),
    (":hash", re.compile(r"^(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}$")),
)
# Random-looking tokens: long, letters and digits mixed, no separators (e.g. nanoid, base62).
_TOKEN = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{16,}$")
_WORDY = re.compile(r"[a-z]{3,}-[a-z]{3,}")


def _segment(segment: str) -> str:
    for name, pattern in _RULES:
        if pattern.match(segment):
            return name
    if _TOKEN.match(segment) and not _WORDY.search(segment):
        return ":hash"
    return segment


@lru_cache(maxsize=65_536)
def route_template(path: str) -> str:
    if not path or path == "/":
        return path
    return "/".join(_segment(part) if part else part for part in path.split("/"))
