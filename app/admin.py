"""Administration that works whether or not a server owns the store.

Embedded ClickHouse lets one process open a data directory. While `beacon serve` runs,
it listens on a Unix socket in the data directory (`admin.sock`, mode 0600, so only the
owner of the data can use it), and `beacon site add` and friends send their command
there; when no server runs, the CLI opens the store itself. Either way the same
`AdminCommands` do the work. One JSON object per line each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
import msgspec

from app.ingest.site import SiteRegistry
from app.lifecycle.erasure import list_erasures
from app.lifecycle.retention import effective_retention, validate_retention
from app.lifecycle.service import Lifecycle
from app.store.sites import Site, SiteStore
from app.web.shares import ShareRegistry, ShareStore

__all__ = ["AdminCommands", "AdminRequest", "AdminServer", "call_running_server"]


class AdminRequest(msgspec.Struct, frozen=True):
    op: Literal[
        "site_add",
        "site_list",
        "token_add",
        "site_origins",
        "share_add",
        "share_list",
        "share_revoke",
        "site_update",
        "site_delete",
        "erase",
        "erasures",
        "backup",
    ]
    domain: str = ""
    site: str = ""
    origins: list[str] = []
    label: str = ""
    key_id: str = ""
    retention_days: int | None = None
    rollup_retention_days: int | None = None
    uid: str = ""
    sid: str = ""
    by: str = ""
    path: str = ""


class AdminCommands:
    """The operations, against a store; keeps a live registry in step when given one.
    The lifecycle operations (retention, erasure, site deletion, backup) need a
    `Lifecycle` (app/lifecycle/service.py), whose lock every command runs under."""

    def __init__(
        self,
        sites: SiteStore,
        registry: SiteRegistry | None = None,
        share_keys: ShareStore | None = None,
        shares: ShareRegistry | None = None,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self._sites = sites
        self._registry = registry
        self._share_keys = share_keys
        self._shares = shares
        self._lifecycle = lifecycle

    def run(self, request: AdminRequest) -> dict[str, Any]:
        if request.op.startswith("share_"):
            return self._share(request)
        if self._lifecycle is None:
            return self._run(request)
        with self._lifecycle.lock:
            return self._run(request)

    def _site_view(self, site: Site) -> dict[str, Any]:
        view = msgspec.to_builtins(site)
        if self._lifecycle is not None:
            events, rollups = effective_retention(site, self._lifecycle.settings)
            view["retention_days"], view["rollup_retention_days"] = events, rollups
        return view

    def _need_lifecycle(self) -> Lifecycle:
        if self._lifecycle is None:
            raise ValueError("this command needs the store's lifecycle (run it on the server)")
        return self._lifecycle

    def _run(self, request: AdminRequest) -> dict[str, Any]:
        if request.op == "site_add":
            retention = (request.retention_days or 0, request.rollup_retention_days or 0)
            validate_retention(*retention)
            site, token = self._sites.add(
                request.domain,
                request.origins,
                retention_days=retention[0],
                rollup_retention_days=retention[1],
            )
            if self._registry is not None:
                self._registry.add(site, token)
            if any(retention):
                self._need_lifecycle().apply_retention()
            return {
                "site": site.site_id,
                "token": token,
                "domain": site.domain,
                "origins": list(site.origins),
                **{k: v for k, v in self._site_view(site).items() if "retention" in k},
            }
        if request.op == "site_list":
            return {"sites": [self._site_view(site) for site in self._sites.all()]}
        if request.op == "backup":
            if not request.path:
                raise ValueError("backup: give the path to back up to")
            return msgspec.to_builtins(self._need_lifecycle().backup(request.path))
        current = self._sites.get(request.site)
        if request.op == "erasures":
            lifecycle = self._need_lifecycle()
            return {"erasures": msgspec.to_builtins(list_erasures(lifecycle.store, request.site))}
        if current is None:
            raise KeyError(f"no site with key {request.site!r}")
        if request.op == "site_update":
            events = (
                current.retention_days if request.retention_days is None else request.retention_days
            )
            rollups = (
                current.rollup_retention_days
                if request.rollup_retention_days is None
                else request.rollup_retention_days
            )
            lifecycle = self._need_lifecycle()
            lifecycle.set_retention(request.site, events, rollups)
            updated = self._sites.get(request.site)
            assert updated is not None
            return self._site_view(updated)
        if request.op == "site_delete":
            done = self._need_lifecycle().delete_site(request.site, by=request.by or "admin")
            return msgspec.to_builtins(done)
        if request.op == "erase":
            if bool(request.uid) == bool(request.sid):
                raise ValueError("erase: give either a uid or a sid")
            kind: Literal["uid", "sid"] = "uid" if request.uid else "sid"
            done = self._need_lifecycle().erase(
                request.site, kind, request.uid or request.sid, by=request.by or "admin"
            )
            return msgspec.to_builtins(done)
        if request.op == "token_add":
            token = self._sites.add_token(request.site)
            if self._registry is not None:
                self._registry.add_token(request.site, token)
            return {"site": request.site, "token": token}
        site = self._sites.set_origins(request.site, request.origins)
        if self._registry is not None:
            self._registry.add(site)
        return {"site": site.site_id, "origins": list(site.origins)}

    def _share(self, request: AdminRequest) -> dict[str, Any]:
        if self._share_keys is None:
            raise ValueError("share keys are not available here")
        if request.op == "share_list":
            keys = self._share_keys.listed(request.site)
            return {"keys": [msgspec.to_builtins(key) for key in keys]}
        if request.op == "share_add":
            if self._sites.get(request.site) is None:
                raise KeyError(f"no site with key {request.site!r}")
            record, key = self._share_keys.add(request.site, request.label)
            result = {**msgspec.to_builtins(record), "key": key}
        else:
            result = msgspec.to_builtins(self._share_keys.revoke(request.key_id))
        if self._shares is not None:
            self._shares.replace(self._share_keys.active())
        return result


class AdminServer:
    def __init__(self, path: Path, commands: AdminCommands) -> None:
        self._path = path
        self._commands = commands
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        previous = os.umask(0o077)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self._path))
        finally:
            os.umask(previous)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = msgspec.json.decode(line, type=AdminRequest)
                result = await anyio.to_thread.run_sync(self._commands.run, request)
                reply: dict[str, Any] = {"ok": True, "result": result}
            except (
                msgspec.ValidationError,
                msgspec.DecodeError,
                KeyError,
                ValueError,
                RuntimeError,
            ) as exc:
                reply = {"ok": False, "error": str(exc).strip("'\"")}
            writer.write(msgspec.json.encode(reply) + b"\n")
            await writer.drain()
        finally:
            writer.close()


def call_running_server(
    path: Path, request: AdminRequest, timeout: float = 600.0
) -> dict[str, Any] | None:
    """Send `request` to the server owning the data directory; None if none is running."""
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # a stale socket file left by a killed server
        client.sendall(msgspec.json.encode(request) + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = msgspec.json.decode(data)
    if not reply.get("ok"):
        raise ValueError(reply.get("error", "the server refused the command"))
    result: dict[str, Any] = reply["result"]
    return result
