"""The cluster DDL is derived from sql/ and covers every table and view in it.

The expectations are read from the migration files here with their own pattern, not
from the deriving code, so a table the derivation misses fails this test.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from app.scale.cluster import cluster_ddl
from app.store.migrate import SQL_DIR
from tests.support import REPO

_TABLE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\{db\}\.(\w+)", re.I)
_VIEW = re.compile(r"CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?\{db\}\.(\w+)", re.I)


def _declared() -> tuple[set[str], set[str]]:
    text = "\n".join(path.read_text() for path in sorted(SQL_DIR.glob("*.sql")))
    return set(_TABLE.findall(text)), set(_VIEW.findall(text))


def _statement(ddl: str, pattern: str) -> str:
    match = re.search(pattern + r"[^;]*;", ddl, re.S)
    assert match, f"no statement matches {pattern!r}"
    return match[0]


def test_every_table_is_replicated_and_distributed() -> None:
    tables, _ = _declared()
    assert {"events", "sites", "tokens", "salts", "sessions", "vitals_days"} <= tables
    ddl = cluster_ddl("main", db="beacon").text()
    for table in tables:
        local = _statement(
            ddl, rf"CREATE TABLE IF NOT EXISTS beacon\.{table}_local ON CLUSTER 'main'\s"
        )
        assert re.search(r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/"
                         rf"beacon/{table}', '\{{replica\}}'", local), local  # fmt: skip
        assert "non_replicated_deduplication_window" not in local
        distributed = _statement(
            ddl, rf"CREATE TABLE IF NOT EXISTS beacon\.{table} ON CLUSTER 'main' AS "
        )
        assert f"ENGINE = Distributed('main', 'beacon', '{table}_local'," in distributed


def test_every_materialized_view_reads_and_writes_local_tables() -> None:
    tables, views = _declared()
    assert {"sessions_mv", "vitals_days_mv"} <= views
    ddl = cluster_ddl("main", db="beacon").text()
    for view in views:
        statement = _statement(
            ddl, rf"CREATE MATERIALIZED VIEW IF NOT EXISTS beacon\.{view} ON CLUSTER 'main'\s"
        )
        target = re.search(r"\bTO beacon\.(\w+)", statement)
        assert target and target[1].endswith("_local") and target[1][:-6] in tables
        sources = re.findall(r"\bFROM beacon\.(\w+)", statement)
        assert sources and all(s.endswith("_local") for s in sources), sources


def test_engine_arguments_are_kept() -> None:
    ddl = cluster_ddl("main").text()
    sites = _statement(ddl, r"CREATE TABLE IF NOT EXISTS beacon\.sites_local ")
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/beacon/sites', " \
        "'{replica}', version)" in sites  # fmt: skip
    events = _statement(ddl, r"CREATE TABLE IF NOT EXISTS beacon\.events ON CLUSTER 'main' AS ")
    assert "cityHash64(site_id, sid)" in events  # a session's events on one shard


def test_a_replaced_table_and_its_view_are_dropped_after_their_successor() -> None:
    ddl = cluster_ddl("main", db="beacon").text()
    successor = ddl.index("CREATE MATERIALIZED VIEW IF NOT EXISTS beacon.vitals_days_mv ON CLUSTER")
    old_view = ddl.index("DROP VIEW IF EXISTS beacon.vitals_daily_mv ON CLUSTER 'main'")
    old_table = ddl.index("DROP TABLE IF EXISTS beacon.vitals_daily ON CLUSTER 'main'")
    old_local = ddl.index("DROP TABLE IF EXISTS beacon.vitals_daily_local ON CLUSTER 'main'")
    assert ddl.index("CREATE TABLE IF NOT EXISTS beacon.vitals_daily_local") < old_view
    assert old_view < successor < old_table < old_local
    assert "-- not derived (a data statement; a new cluster has no data): MOVE_ROWS" in ddl


def test_a_bad_cluster_name_is_refused() -> None:
    with pytest.raises(ValueError, match="identifier"):
        cluster_ddl("main'; DROP")


def test_the_cli_prints_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "cluster-ddl", "--cluster", "beacon_cluster"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == cluster_ddl("beacon_cluster").text()


def test_alter_statements_reach_the_local_and_distributed_tables() -> None:
    ddl = cluster_ddl("main").text()
    add = "ON CLUSTER 'main' ADD COLUMN IF NOT EXISTS stored_at"
    assert f"ALTER TABLE beacon.events_local {add}" in ddl
    assert f"ALTER TABLE beacon.events {add}" in ddl
    assert "ALTER TABLE beacon.events_local ON CLUSTER 'main' MATERIALIZE COLUMN stored_at" in ddl
    assert "ALTER TABLE beacon.events ON CLUSTER 'main' MATERIALIZE" not in ddl
