"""Source maps: stored per (site, release, minified file) and applied to issue stacks.

Owns the upload (validated by parsing it before it is stored), the lookup of the maps a
stack needs, and de-minification of frames with Sentry's `symbolic` library (Rust, the
same code Sentry runs): each frame's position maps to the original file, line and column,
with the original source line when the map embeds `sourcesContent`.

A map is found by the *path* of the minified script (`/assets/app-3f2a.js`): the upload's
`file` may be a URL or a path (`~/` and a leading `/` are optional), and frames match on
their URL's path, so one upload serves every host the bundle is served from.

Function names: a source map names tokens, not the enclosing function, so a frame's
original function name is taken from the token at its caller's call site (the callee's
name there), as Sentry did before it used the minified source; the top frame keeps its
minified name when no caller maps it. Grouping never uses de-minified names (ingest does
not read maps): de-minification is for display.

Limits: maps up to `MAX_MAP_BYTES`; parsed maps are cached per process (`lru_cache` on
the upload's identity), so a re-upload is picked up on the next request.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import msgspec
from symbolic.sourcemap import SourceMapView

from app.store.client import Store
from app.triage.stack import Frame

__all__ = [
    "MAX_MAP_BYTES",
    "MappedFrame",
    "SourceMapError",
    "deminify",
    "file_key",
    "load_maps",
    "store_sourcemap",
]

MAX_MAP_BYTES = 64 * 1024 * 1024


class SourceMapError(ValueError):
    """The upload is not a usable source map; the message says why."""


class MappedFrame(msgspec.Struct, kw_only=True):
    """A stack frame for display: as reported, and its original position when mapped."""

    function: str
    module: str
    abs_path: str
    line: int | None
    col: int | None
    in_app: bool
    native: bool
    mapped: bool = False
    original_function: str | None = None
    original_file: str | None = None
    original_line: int | None = None
    original_col: int | None = None
    context_line: str | None = None


def file_key(file: str) -> str:
    """The path a map is stored and found under: no scheme, host, query or `~`."""
    text = file.strip().split("#", 1)[0].split("?", 1)[0]
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text[text.find("/") :] if "/" in text else "/"
    text = text.removeprefix("~")
    return "/" + text.lstrip("/")


def _parse(content: bytes) -> SourceMapView:
    try:
        view = SourceMapView.from_json_bytes(content)
    except Exception as exc:  # symbolic raises its own error types from Rust
        raise SourceMapError(f"not a valid source map: {exc}") from None
    if len(view) == 0:
        raise SourceMapError("the source map has no mappings")
    return view


class UploadResult(msgspec.Struct):
    release: str
    file: str
    size: int
    sources: int


def store_sourcemap(
    store: Store, site: str, release: str, file: str, content: bytes, *, now: dt.datetime
) -> UploadResult:
    if not release.strip():
        raise SourceMapError("release: give the release the map belongs to")
    if not file.strip():
        raise SourceMapError("file: give the minified file's URL or path")
    if len(content) > MAX_MAP_BYTES:
        raise SourceMapError(f"the source map is larger than {MAX_MAP_BYTES} bytes")
    view = _parse(content)
    key = file_key(file)
    store.command(
        f"INSERT INTO {store.table('sourcemaps')} "
        "(site_id, release, file, uploaded_at, size, content) VALUES "
        "({site:String}, {release:String}, {file:String}, {at:DateTime64(3, 'UTC')}, "
        "{size:UInt64}, {content:String})",
        {
            "site": site,
            "release": release,
            "file": key,
            "at": now.astimezone(dt.UTC).replace(tzinfo=None),
            "size": len(content),
            "content": content.decode("utf-8", errors="replace"),
        },
    )
    return UploadResult(release=release, file=key, size=len(content), sources=view.source_count)


@lru_cache(maxsize=64)
def _cached_view(
    site: str, release: str, file: str, uploaded_at: str, content: str
) -> SourceMapView:
    del site, release, file, uploaded_at  # the cache key: one entry per upload
    return _parse(content.encode())


def load_maps(store: Store, site: str, release: str, files: list[str]) -> dict[str, SourceMapView]:
    """The newest map of each of `files` (keys as `file_key`) for the release."""
    if not release or not files:
        return {}
    rows = store.rows(
        "SELECT file, toString(max(uploaded_at)), argMax(content, uploaded_at) "
        f"FROM {store.table('sourcemaps')} "
        "WHERE site_id = {site:String} AND release = {release:String} "
        "AND file IN {files:Array(String)} GROUP BY file",
        {"site": site, "release": release, "files": sorted(set(files))},
    )
    return {
        file: _cached_view(site, release, file, uploaded_at, content)
        for file, uploaded_at, content in rows
    }


def _plain(frame: Frame) -> MappedFrame:
    return MappedFrame(
        function=frame.function,
        module=frame.module,
        abs_path=frame.abs_path,
        line=frame.line,
        col=frame.col,
        in_app=frame.in_app,
        native=frame.native,
    )


def deminify(frames: list[Frame], maps: dict[str, SourceMapView]) -> list[MappedFrame]:
    """Frames (top first) with original positions where a map covers them."""
    out = [_plain(frame) for frame in frames]
    tokens = []
    for frame in frames:
        view = maps.get(file_key(frame.abs_path)) if frame.abs_path else None
        token = None
        if view is not None and frame.line:
            # Stack positions are 1-based; symbolic's are 0-based.
            token = view.lookup(frame.line - 1, max(0, (frame.col or 1) - 1))
        tokens.append((view, token))
    for index, (view, token) in enumerate(tokens):
        if view is None or token is None:
            continue
        mapped = out[index]
        mapped.mapped = True
        mapped.original_file = token.src
        mapped.original_line = token.src_line + 1
        mapped.original_col = token.src_col + 1
        if token.src_id is not None:
            source = view.get_sourceview(token.src_id)
            if source is not None and token.src_line < len(source):
                mapped.context_line = source[token.src_line].rstrip("\n")[:500]
        caller = tokens[index + 1][1] if index + 1 < len(tokens) else None
        mapped.original_function = (caller.name if caller is not None else None) or (
            frames[index].function or None
        )
    return out
