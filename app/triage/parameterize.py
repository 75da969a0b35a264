"""Replace the variable parts of error messages and request paths with placeholders.

Owns: the table of named patterns (after Sentry's `grouping/parameterization.py`):
each match becomes `<name>`, so "User 42 not found" and "User 7 not found" are the same
message. Order matters: wider patterns (URLs, e-mails, UUIDs) run before the numbers
they contain. Quoted values keep their quotes: `(reading 'x')` -> `(reading '<str>')`.

Also owns `path_template`: a request URL as a route-like template (`/api/cart/:id`) for
grouping failed fetch/xhr calls.

Known limits: only the first `MAX_MESSAGE_CHARS` characters of a message count;
identifiers made of plain words (slugs, names) are not recognized as variable.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MAX_MESSAGE_CHARS", "parameterize", "path_template"]

MAX_MESSAGE_CHARS = 512

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")),
    ("url", re.compile(r"\b(?:[a-z][a-z0-9+.\-]*://|www\.)[^\s'\"<>`)]+", re.IGNORECASE)),
    (
        "uuid",
        re.compile(
            r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "ip",
        re.compile(
            r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
            r"|\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"
            r"|\b(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?\b",
            re.IGNORECASE,
        ),
    ),
    (
        "date",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}"
            r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?\b"
        ),
    ),
    ("hex", re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I)),
    ("str", re.compile(r"(?<![\w\\])'[^'\n]*'(?!\w)|\"[^\"\n]*\"|`[^`\n]*`")),
    # Numbers may carry a unit ("12ms", "4.5s"); versions ("1.2.3") stay as they are.
    ("float", re.compile(r"(?<![\w.])-?\d+\.\d+(?![.\d])")),
    ("int", re.compile(r"(?<![\w.])-?\d+(?![.\d])|(?<=[A-Za-z_])\d{3,}\b")),
)
_QUOTES = ("'", '"', "`")


def _placeholder(name: str) -> str:
    return f"<{name}>"


def _replace_quoted(match: re.Match[str]) -> str:
    text = match.group(0)
    quote = text[0]
    if quote in _QUOTES:
        return f"{quote}<str>{quote}"
    return "<str>"


@lru_cache(maxsize=32_768)
def parameterize(message: str) -> str:
    """The message with variable parts replaced by `<email>`, `<url>`, `<ip>`, `<uuid>`,
    `<date>`, `<hex>`, `<str>`, `<float>`, `<int>`; whitespace collapsed."""
    text = " ".join(message[:MAX_MESSAGE_CHARS].split())
    for name, pattern in _PATTERNS:
        if name == "str":
            text = pattern.sub(_replace_quoted, text)
        else:
            text = pattern.sub(_placeholder(name), text)
    return text


_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"
    r"|[0-9a-f]{12,}|(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{16,}|[\w.+\-]+@[\w\-.]+)$",
    re.IGNORECASE,
)
_SCHEME_HOST = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//([^/?#]*)", re.IGNORECASE)


@lru_cache(maxsize=32_768)
def path_template(url: str) -> str:
    """`https://api.x/v1/users/42/orders/9f1c...?q=1` -> `api.x/v1/users/:id/orders/:id`.

    The host is kept (a failing API host is a different problem from a failing CDN);
    query and fragment are dropped; numeric, UUID, long hex and long token segments
    become `:id`.
    """
    text = url.strip()
    for sep in ("#", "?"):
        text = text.split(sep, 1)[0]
    host = ""
    match = _SCHEME_HOST.match(text)
    if match:
        host = match.group(1).lower().rsplit("@", 1)[-1]
        text = text[match.end() :]
    segments = [
        ":id" if _ID_SEGMENT.match(segment) else segment for segment in text.split("/") if segment
    ]
    return host + "/" + "/".join(segments)
