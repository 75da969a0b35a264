"""Error fingerprints: which error events are the same issue (DESIGN §6 "Error issue").

Owns the grouping rules, in this order (the first that applies wins):

1. `script_error` — "Script error." with no stack: a cross-origin script hid the
   details; one issue per site (the fingerprint is a constant, issues are keyed by site).
2. `chunk_load` — ChunkLoadError, "Loading chunk N failed", "Failed to fetch dynamically
   imported module" (and the Firefox/Safari wordings): one issue, the cause is a deploy.
3. `network` — fetch/xhr failures: method + status class (`4xx`, `5xx`, `failed`) + the
   request path template (`api.x/cart/:id`).
4. `resource` — failed `<img>`/`<script>`/`<link>` loads: the resource's module (path
   without query, content hash or extension).
5. With a usable stack: exception type + the top `MAX_FRAMES` *in-app* frames, each as
   (normalized function, module) — never line or column, so a redeploy, another page,
   another browser or another user agent give the same issue, and Chrome, Firefox and
   Safari stacks whose frames agree give one fingerprint although their messages differ.
   Consecutive repeated frames (recursion) count once. If every frame with a file is in
   a browser extension the kind is `extension` (grouped on the extension's frames, apart
   from the app's issues); if frames have files but none is in-app (a CDN library
   threw) the kind is `third_party`, grouped on those frames.
6. Otherwise `rejection` (kind rejection: a non-Error promise rejection) or `message`:
   type + the parameterized message.

Why the top 5 in-app frames and not all of them: Chrome keeps 10 frames by default
(`Error.stackTraceLimit`), Firefox and Safari many more, and engines differ in the async
frames they add at the bottom; the top frames are where they agree.

Known limits: minified function names are used as they are (a redeploy that renames
them splits the issue unless source maps are uploaded for display only — grouping does
not de-minify); an error thrown with a message that embeds plain-word variables (names,
slugs) and no stack is split per value.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import msgspec

from app.triage.parameterize import parameterize, path_template
from app.triage.stack import Frame, frame_function, is_extension_url, module_of, parse_stack_cached

__all__ = ["MAX_FRAMES", "Fingerprint", "fingerprint_error", "grouping_frames"]

MAX_FRAMES = 5
MAX_TITLE_CHARS = 200
_SEP = "\x1f"

_SCRIPT_ERROR = re.compile(r"^(?:uncaught )?script error\.?$", re.IGNORECASE)
_CHUNK_LOAD = re.compile(
    r"loading (?:css )?chunk [\w\-./]+ failed"
    r"|failed to fetch dynamically imported module"
    r"|error loading dynamically imported module"
    r"|importing a module script failed"
    r"|unable to preload css",
    re.IGNORECASE,
)
_TYPE_PREFIX = re.compile(
    r"^(?:[Uu]ncaught\s+)?(?:\(in promise\)\s+)?"
    r"((?:[A-Z][\w$]*)?(?:Error|Exception)|InternalError|DOMException)(?::\s*|$)"
)


class Fingerprint(msgspec.Struct, frozen=True, gc=False):
    """The grouping key of an error event and how its issue is shown."""

    hash: str  # 16 lowercase hex chars: the issue id within a site
    title: str  # "TypeError: Cannot read properties of undefined (reading '<str>')"
    culprit: str  # "renderCart (src/cart)", or the file / request / resource; never ""
    kind: str  # app|extension|third_party|script_error|chunk_load|rejection|network|...


def _digest(*components: str) -> str:
    return hashlib.blake2b(_SEP.join(components).encode(), digest_size=8).hexdigest()


def _split_type(type_: str, message: str) -> tuple[str, str]:
    """(type, message) with a type taken from, or stripped from, the message:
    window.onerror says "Uncaught TypeError: x is not a function" with no type."""
    message = message.strip()
    match = _TYPE_PREFIX.match(message)
    if match and (not type_ or match.group(1) == type_):
        return match.group(1), message[match.end() :].strip()
    return type_.strip(), message


def _title(type_: str, message: str) -> str:
    text = parameterize(message) if message else ""
    title = f"{type_}: {text}" if type_ and text else type_ or text or "(no message)"
    return title[:MAX_TITLE_CHARS]


def _frame_key(frame: Frame) -> str:
    return f"{frame_function(frame.function)}@{frame.module}"


def _culprit_of(frame: Frame) -> str:
    function = frame_function(frame.function)
    return frame.module if function == "?" else f"{function} ({frame.module})"


def grouping_frames(frames: tuple[Frame, ...] | list[Frame]) -> tuple[str, list[Frame]]:
    """(kind, frames) that decide the group: the top in-app frames (`app`), else the
    extension frames (`extension`), else the frames with a file (`third_party`), else
    ("", []) when the stack is not usable."""
    with_file = [f for f in frames if not f.native and f.abs_path]
    if not with_file:
        return "", []
    in_app = [f for f in with_file if f.in_app]
    if in_app:
        kind, chosen = "app", in_app
    elif any(is_extension_url(f.abs_path) for f in with_file):
        kind, chosen = "extension", [f for f in with_file if is_extension_url(f.abs_path)]
    else:
        kind, chosen = "third_party", with_file
    picked: list[Frame] = []
    last = ""
    for frame in chosen:
        key = _frame_key(frame)
        if key == last:
            continue
        picked.append(frame)
        last = key
        if len(picked) == MAX_FRAMES:
            break
    return kind, picked


def _fallback_culprit(file: str, req_url: str) -> str:
    if file:
        return module_of(file) or file
    if req_url:
        return path_template(req_url)
    return "(unknown)"


@lru_cache(maxsize=65_536)
def fingerprint_error(
    *,
    kind: str,
    type: str,
    message: str,
    stack: str,
    file: str = "",
    req_url: str = "",
    status: int | None = None,
    method: str = "",
) -> Fingerprint:
    """The fingerprint of one error event (pure and cached: the ingest hot path)."""
    type_, text = _split_type(type, message)
    frames = parse_stack_cached(stack) if stack else ()
    group_kind, picked = grouping_frames(frames)

    if not picked and _SCRIPT_ERROR.match(message.strip()) and kind in ("error", "console"):
        return Fingerprint(
            hash=_digest("script_error"),
            title="Script error.",
            culprit=_fallback_culprit(file, "") if file else "(cross-origin script)",
            kind="script_error",
        )
    if type_ == "ChunkLoadError" or _CHUNK_LOAD.search(message):
        return Fingerprint(
            hash=_digest("chunk_load"),
            title=f"{type_ or 'ChunkLoadError'}: failed to load a code chunk",
            culprit=_fallback_culprit(file, req_url),
            kind="chunk_load",
        )
    if kind in ("fetch", "xhr"):
        verb = (method or "GET").upper()
        status_class = f"{status // 100}xx" if status and status >= 100 else "failed"
        template = path_template(req_url) if req_url else "(unknown request)"
        return Fingerprint(
            hash=_digest("network", verb, status_class, template),
            title=f"{verb} {template} {status_class}"[:MAX_TITLE_CHARS],
            culprit=template,
            kind="network",
        )
    if kind == "resource":
        source = file or req_url or message
        module = module_of(source) if "/" in source else parameterize(source)
        return Fingerprint(
            hash=_digest("resource", module),
            title=f"Failed to load resource: {module}"[:MAX_TITLE_CHARS],
            culprit=module or "(unknown resource)",
            kind="resource",
        )
    if picked:
        return Fingerprint(
            hash=_digest(group_kind, type_, *(_frame_key(f) for f in picked)),
            title=_title(type_, text),
            culprit=_culprit_of(picked[0]),
            kind=group_kind,
        )
    if file and is_extension_url(file):
        return Fingerprint(
            hash=_digest("extension", type_, module_of(file), parameterize(text)),
            title=_title(type_, text),
            culprit=module_of(file),
            kind="extension",
        )
    fallback_kind = "rejection" if kind == "rejection" else "message"
    return Fingerprint(
        hash=_digest(fallback_kind, type_, parameterize(text)),
        title=_title(type_, text),
        culprit=_fallback_culprit(file, req_url),
        kind=fallback_kind,
    )
