"""The dashboard's built files (`app/web/static/`, written by `npm run build` in app/web,
which `deploy/setup.sh` runs), read once at start-up and served from memory.

Each file is served at `/static/<name>`; pages link it as `/static/<name>?v=<hash of its
content>`, which is cached for a year (a new build is a new URL), gzip-compressed when
the browser accepts it. Without a build the dashboard answers 503 with what to run.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import msgspec

__all__ = ["STATIC_DIR", "Asset", "Assets"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: The files a page needs; a build without them is incomplete.
REQUIRED = ("dashboard.js", "dashboard.css", "icon.svg")


class Asset(msgspec.Struct, frozen=True):
    body: bytes
    gzipped: bytes
    media_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


class Assets:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.files: dict[str, Asset] = {}
        for name in REQUIRED:
            path = directory / name
            if path.exists():
                body = path.read_bytes()
                self.files[name] = Asset(
                    body=body,
                    gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                    media_type=_TYPES[path.suffix],
                    version=hashlib.sha256(body).hexdigest()[:12],
                )

    @property
    def built(self) -> bool:
        return all(name in self.files for name in REQUIRED)

    def url(self, name: str) -> str:
        asset = self.files.get(name)
        return f"/static/{name}?v={asset.version}" if asset else f"/static/{name}"
