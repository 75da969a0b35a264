"""The ClickHouse cluster variant of `sql/`, derived by code (never a hand-kept copy).

`beacon cluster-ddl --cluster NAME` prints it. For every table of the migrations:
- `<table>_local`, created `ON CLUSTER` with the Replicated variant of its engine
  (`MergeTree` → `ReplicatedMergeTree('/clickhouse/tables/{shard}/<db>/<table>',
  '{replica}')`, `ReplacingMergeTree(version)` → `ReplicatedReplacingMergeTree(…, version)`,
  and so on), the same columns, keys, TTL and settings — except that
  `non_replicated_deduplication_window` becomes `replicated_deduplication_window`;
- `<table>`, a `Distributed` table over the `_local` ones with the original name, so
  Beacon's queries and inserts run unchanged against any node. Events are sharded by
  `cityHash64(site_id, sid)`, keeping a session's events on one shard, and settled
  sessions by their key, keeping a session's versions on one shard; the rollups are
  written only by materialized views, on each shard, so their sharding key is irrelevant;
- every materialized view, `ON CLUSTER`, reading and writing the `_local` tables, so each
  shard rolls up the events it holds (readers merge the partial states, as they already
  do: every rollup query aggregates);
- every `ALTER TABLE`, `ON CLUSTER`, on the `_local` table, and a column change
  (`ADD`/`MODIFY`/`DROP COLUMN`) on the `Distributed` table too, so both keep one shape;
- every `DROP VIEW` and `DROP TABLE` of a table or view replaced by a later one, `ON
  CLUSTER` (a table with its `_local` table), so a cluster does not keep feeding it.

Data statements of the migrations (backfills: `INSERT … SELECT`, `BACKFILL`, `MOVE_ROWS`) are
left out with a comment: on a new cluster they have nothing to fold in. `{shard}` and
`{replica}` are the server macros of each node. Limit: only what `sql/` uses is
translated (the engines below); an engine it does not know is an error here, not a
silent copy.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from app.store.migrate import SQL_DIR, load_migrations, render

__all__ = ["ClusterDDL", "cluster_ddl", "derive_statement"]

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)", re.I)
_CREATE_VIEW = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+)", re.I)
_ALTER = re.compile(r"^ALTER TABLE (\w+)\.(\w+)\s", re.I)
_DROP = re.compile(r"^DROP (TABLE|VIEW) IF EXISTS (\w+)\.(\w+)$", re.I)
_COLUMN_CHANGE = re.compile(r"\b(ADD|MODIFY|DROP) COLUMN\b", re.I)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(\w+)(?:\(([^)]*)\))?", re.I)
_REPLICATED = {
    "MergeTree",
    "ReplacingMergeTree",
    "AggregatingMergeTree",
    "SummingMergeTree",
    "CollapsingMergeTree",
    "VersionedCollapsingMergeTree",
}
# Events: a session's events on one shard. Settled sessions: every version of a session
# on one shard, where FINAL keeps the latest (and their closed copy beside them).
SHARDING_KEYS = {
    "events": "cityHash64(site_id, sid)",
    "sessions_settled": "session_key",
    "sessions_settled_closed": "session_key",
}


class ClusterDDL(msgspec.Struct):
    statements: list[str]
    tables: list[str]
    views: list[str]

    def text(self) -> str:
        """For `clickhouse-client --multiquery`: statements end in `;`, notes are comments."""
        return "\n\n".join(s if s.startswith("--") else s + ";" for s in self.statements) + "\n"


def _replicated_engine(match: re.Match[str], db: str, table: str) -> str:
    engine, arguments = match[1], (match[2] or "").strip()
    if engine not in _REPLICATED:
        raise ValueError(f"{db}.{table}: no Replicated variant known for engine {engine}")
    path = f"'/clickhouse/tables/{{shard}}/{db}/{table}', '{{replica}}'"
    return f"ENGINE = Replicated{engine}({path}{', ' + arguments if arguments else ''})"


def _local_refs(statement: str, db: str, tables: set[str]) -> str:
    """`db.t` → `db.t_local` for every data table `t`."""
    return re.sub(
        rf"\b{db}\.(\w+)\b",
        lambda m: f"{db}.{m[1]}_local" if m[1] in tables else m[0],
        statement,
    )


def derive_statement(statement: str, *, db: str, cluster: str, tables: set[str]) -> list[str]:
    """The cluster statements for one rendered migration statement."""
    on_cluster = f"ON CLUSTER '{cluster}'"
    table = _CREATE_TABLE.match(statement)
    if table:
        name = table[2]
        head = f"CREATE TABLE IF NOT EXISTS {db}.{name}_local {on_cluster}"
        local = head + statement[table.end() :]
        local = _ENGINE.sub(lambda m: _replicated_engine(m, db, name), local, count=1)
        local = local.replace(
            "non_replicated_deduplication_window", "replicated_deduplication_window"
        )
        key = SHARDING_KEYS.get(name, "rand()")
        distributed = (
            f"CREATE TABLE IF NOT EXISTS {db}.{name} {on_cluster} AS {db}.{name}_local\n"
            f"ENGINE = Distributed('{cluster}', '{db}', '{name}_local', {key})"
        )
        return [local, distributed]
    view = _CREATE_VIEW.match(statement)
    if view:
        head = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view[2]} {on_cluster}"
        return [head + _local_refs(statement[view.end() :], db, tables)]
    alter = _ALTER.match(statement)
    if alter and alter[2] in tables:
        rest = " ".join(statement[alter.end() :].split())
        derived = [f"ALTER TABLE {db}.{alter[2]}_local {on_cluster} {rest}"]
        if _COLUMN_CHANGE.search(rest):
            derived.append(f"ALTER TABLE {db}.{alter[2]} {on_cluster} {rest}")
        return derived
    drop = _DROP.match(statement.strip())
    if drop:
        kind, name = drop[1].upper(), drop[3]
        if kind == "VIEW":
            return [f"DROP VIEW IF EXISTS {db}.{name} {on_cluster}"]
        return [
            f"DROP TABLE IF EXISTS {db}.{name} {on_cluster}",
            f"DROP TABLE IF EXISTS {db}.{name}_local {on_cluster}",
        ]
    first_line = statement.splitlines()[0]
    return [f"-- not derived (a data statement; a new cluster has no data): {first_line}"]


def cluster_ddl(
    cluster: str, *, db: str = "beacon", retention_days: int = 400, sql_dir: Path = SQL_DIR
) -> ClusterDDL:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", cluster):
        raise ValueError(f"cluster name {cluster!r} is not a plain identifier")
    rendered = [
        render(statement, db=db, retention_days=retention_days)
        for migration in load_migrations(sql_dir)
        for statement in migration.statements
    ]
    tables = [m[2] for s in rendered if (m := _CREATE_TABLE.match(s))]
    views = [m[2] for s in rendered if (m := _CREATE_VIEW.match(s))]
    statements = [f"CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER '{cluster}'"]
    # Beacon's own bookkeeping table, created by code in app/store/migrate.py.
    statements += derive_statement(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version",
        db=db,
        cluster=cluster,
        tables=set(tables),
    )
    for statement in rendered:
        statements += derive_statement(statement, db=db, cluster=cluster, tables=set(tables))
    return ClusterDDL(statements, tables, views)
