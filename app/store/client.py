"""The store: Beacon's one door to ClickHouse, embedded (chdb) or a server.

Both modes go through `clickhouse_connect.get_client(dsn=...)`: `chdb:///path` opens
the in-process engine, `http://…` a server. Nothing else in Beacon imports
clickhouse-connect.

Limits that shape callers:
- chdb runs one engine per process, bound to one path, and only one process may open a
  path. So the embedded client is shared process-wide (`_embedded_clients`), tests
  isolate themselves by *database*, and a second process (the CLI while a server runs)
  must talk to the server instead of opening the store (see `app/admin.py`).
- The client is synchronous. chdb releases the GIL while a query runs, so async callers
  use the `a*` methods, which run the call in a worker thread.
- Table names are qualified with the database here; the database name is validated
  as an identifier once, and values always travel as bound parameters.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread
import clickhouse_connect
from clickhouse_connect.driver.client import Client

from app.config import Settings

__all__ = ["Store", "StoreError"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_embedded_clients: dict[str, Client] = {}
_embedded_lock = threading.Lock()


#: The embedded engine's server settings. Backups (BACKUP/RESTORE to File(...) need an
#: allowed path, app/lifecycle/backup.py): the engine is only reachable through Beacon,
#: whose commands choose the path, so any path the process may write is allowed.
#: Merges: at a lower priority than the process's other threads, so that on a machine of
#: few cores a merge of a large part does not hold up the event loop that acknowledges
#: requests (merges then use what the loop leaves; `beacon bench ingest --seconds 300`).
_CHDB = {"backups.allowed_path": "/", "os_threads_nice_value_merge_mutate": "10"}


class StoreError(RuntimeError):
    """ClickHouse refused or could not be reached."""


def _embedded_client(path: str) -> Client:
    with _embedded_lock:
        client = _embedded_clients.get(path)
        if client is None:
            if _embedded_clients:
                opened = next(iter(_embedded_clients))
                raise StoreError(
                    f"this process already opened embedded ClickHouse at {opened!r}; "
                    f"chdb allows one path per process, not also {path!r}"
                )
            try:
                client = clickhouse_connect.get_client(dsn=f"chdb://{path}", chdb_options=_CHDB)
            except Exception as exc:
                raise StoreError(f"cannot open embedded ClickHouse at {path!r}: {exc}") from exc
            _embedded_clients[path] = client
        return client


#: Settings of every JSONEachRow insert, measured on the 2-core machine with
#: `beacon bench ingest`. The rows omit their empty columns, and no column of `events`
#: has a DEFAULT expression (keep it so), so its type's default is what ClickHouse would
#: compute anyway: skipping that evaluation is cheaper.
_INSERT_SETTINGS = {"input_format_defaults_for_omitted_fields": 0}
#: Embedded only: chdb shares the machine with the server, and splitting one insert's
#: parsing across threads cost more CPU than it saved (a ClickHouse server keeps it).
_EMBEDDED_INSERT_SETTINGS = {**_INSERT_SETTINGS, "input_format_parallel_parsing": 0}


class Store:
    def __init__(self, client: Client, database: str, *, description: str) -> None:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"database name {database!r} is not a plain identifier")
        self._client = client
        self.db = database
        self.description = description
        self._insert_settings = _EMBEDDED_INSERT_SETTINGS if self.embedded else _INSERT_SETTINGS

    @property
    def embedded(self) -> bool:
        """In-process chdb (one process's engine), not a ClickHouse server."""
        return self.description.startswith("chdb:")

    @classmethod
    def open(cls, settings: Settings) -> Store:
        if settings.embedded:
            path = str(settings.chdb_path.resolve())
            settings.chdb_path.mkdir(parents=True, exist_ok=True)
            client = _embedded_client(path)
            description = f"chdb:{path}"
        else:
            try:
                client = clickhouse_connect.get_client(dsn=settings.clickhouse_url)
            except Exception as exc:
                raise StoreError(f"cannot reach ClickHouse: {exc}") from exc
            description = "clickhouse-server"
        store = cls(client, settings.database, description=description)
        store.command(f"CREATE DATABASE IF NOT EXISTS {store.db}")
        return store

    def table(self, name: str) -> str:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"table name {name!r} is not a plain identifier")
        return f"{self.db}.{name}"

    # -- synchronous calls (run them in a thread from async code) ------------------

    def command(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            self._client.command(
                sql, parameters=dict(parameters or {}), settings=dict(settings or {})
            )
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def insert_select(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, dedup_token: str
    ) -> None:
        """An `INSERT … SELECT`; repeated with the same token, it is stored once."""
        try:
            self._client.command(
                sql,
                parameters=dict(parameters or {}),
                settings={
                    "insert_deduplication_token": dedup_token,
                    "insert_deduplicate": 1,
                    "deduplicate_blocks_in_dependent_materialized_views": 1,
                },
            )
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.query(sql, parameters)[1]

    def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """(column names, rows) of a SELECT with server-side bound `{name:Type}` values."""
        try:
            result = self._client.query(sql, parameters=dict(parameters or {}))
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        return tuple(result.column_names), [tuple(row) for row in result.result_rows]

    def insert_json_rows(
        self, table: str, columns: Sequence[str], body: bytes, *, dedup_token: str
    ) -> None:
        """Insert a JSONEachRow body; a retry with the same token is stored once."""
        try:
            self._client.raw_insert(
                self.table(table),
                list(columns),
                insert_block=body,
                fmt="JSONEachRow",
                settings={
                    **self._insert_settings,
                    "insert_deduplication_token": dedup_token,
                    # Without this, a retried insert that the events table deduplicates
                    # would still be added again to every rollup fed by a materialized
                    # view (each rollup table has its own deduplication window).
                    "deduplicate_blocks_in_dependent_materialized_views": 1,
                },
            )
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def ping(self) -> bool:
        try:
            self._client.query("SELECT 1")
        except Exception:
            return False
        return True

    # -- async wrappers -------------------------------------------------------------

    async def arows(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        return await anyio.to_thread.run_sync(self.rows, sql, parameters)

    async def aquery(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        return await anyio.to_thread.run_sync(self.query, sql, parameters)

    async def acommand(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        await anyio.to_thread.run_sync(self.command, sql, parameters)

    async def aping(self) -> bool:
        return await anyio.to_thread.run_sync(self.ping)
