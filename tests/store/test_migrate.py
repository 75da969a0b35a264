"""Migrations run once each, in order, and are recorded."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import msgspec
import pytest

from app.config import Settings
from app.lifecycle.retention import table_definition
from app.store.client import Store
from app.store.migrate import (
    SQL_DIR,
    apply_migrations,
    backfill_statement,
    load_migrations,
    move_rows,
    split_statements,
)
from app.store.rows import EVENT_COLUMNS, EventRow, encode_rows


def test_all_migrations_applied_once(store: Store) -> None:
    versions = [
        row[0]
        for row in store.rows(
            f"SELECT version FROM {store.table('schema_migrations')} ORDER BY version"
        )
    ]
    assert versions == [m.version for m in load_migrations()]
    assert apply_migrations(store, retention_days=30) == []
    tables = {
        row[0]
        for row in store.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": store.db}
        )
    }
    assert {"events", "sites", "tokens", "salts", "schema_migrations"} <= tables


def test_events_columns_have_no_default_expressions(store: Store) -> None:
    # Inserts skip evaluating defaults of omitted fields (app/store/client.py); that is
    # only right while every column of events defaults to its type's default. A
    # MATERIALIZED column is never read from the input (always computed): stored_at.
    with_defaults = store.rows(
        "SELECT name, default_kind FROM system.columns "
        "WHERE database = {db:String} AND table = 'events' AND default_kind != ''",
        {"db": store.db},
    )
    assert with_defaults == [("stored_at", "MATERIALIZED")]


def test_stored_at_is_the_time_of_the_insert_and_received_at_before_it(
    settings: Settings, tmp_path: Path
) -> None:
    first_release = tmp_path / "sql"
    first_release.mkdir()
    for path in sorted(SQL_DIR.glob("0[0-2]?_*.sql")):
        shutil.copy(path, first_release)
    store = Store.open(settings)
    try:
        apply_migrations(store, retention_days=400, sql_dir=first_release)
        store.insert_json_rows("events", EVENT_COLUMNS, _history(), dedup_token="old")
        apply_migrations(store, retention_days=400)  # 050 and later
        before = time.time()
        store.insert_json_rows("events", EVENT_COLUMNS, _history(), dedup_token="new")
        old, new = store.rows(
            f"SELECT countIf(stored_at = toDateTime64(received_at, 6)), "
            f"countIf(toUnixTimestamp64Micro(stored_at) >= {int(before * 1e6)}) "
            f"FROM {store.table('events')}"
        )[0]
        assert (old, new) == (36, 36)
        store.command(f"OPTIMIZE TABLE {store.table('events')} FINAL")
        again = store.rows(
            f"SELECT countIf(stored_at = toDateTime64(received_at, 6)) FROM {store.table('events')}"
        )[0][0]
        assert again == 36  # merges keep what was written
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.db}")


def test_statements_split_on_line_final_semicolons() -> None:
    text = "-- comment; not a split\nCREATE TABLE a (x String DEFAULT ';');\nSELECT 1;\n"
    assert split_statements(text) == ("CREATE TABLE a (x String DEFAULT ';')", "SELECT 1")


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"NNN_name\.sql"):
        load_migrations(tmp_path)


#: Rollups added after the first release, each filled from the events already stored
#: when its migration runs.
BACKFILLED = (
    "issues_daily",
    "issues",
    "issues_hourly",
    "issue_facets_daily",
    "pages_days",
    "vitals_weekly",
    "vitals_hourly",
    "issues_by_day",
    "vitals_days",
    "vitals_device_days",
    "vitals_device_weekly",
    "traffic_device_slots",
)


def _history() -> bytes:
    """Page views, vitals and errors of three sessions over two days."""
    now = time.time()
    rows = []
    for n in range(12):
        ts = now - 86_400 * (n % 2) - 60 * n
        common = {
            "site_id": "s_upgrade",
            "ts": ts,
            "received_at": ts,
            "sid": f"sid{n % 3}",
            "visitor_id": 100 + n % 3,
            "session_start": ts - 60,
            "pid": f"p{n}",
            "path": f"/page/{n % 4}",
            "route": f"/page/{n % 4}",
            "browser": ("Chrome", "Firefox")[n % 2],
            "os": "Linux",
            "device": "desktop",
        }
        rows.append(EventRow(type="pageview", **common))
        rows.append(EventRow(type="vital", name="LCP", value=1000.0 + 250 * n, rating="good",
                             target="img.hero", **common))  # fmt: skip
        rows.append(EventRow(type="error", error_kind="error", error_type="TypeError",
                             message=f"x{n % 2} is undefined", fingerprint=f"fp{n % 2}",
                             release=f"v{n % 3}", **common))  # fmt: skip
    return encode_rows(rows)


def _finalized(store: Store, table: str) -> list[tuple[object, ...]]:
    columns = store.rows(
        "SELECT name, type FROM system.columns WHERE database = {db:String} "
        "AND table = {t:String} ORDER BY position",
        {"db": store.db, "t": table},
    )
    exprs = [
        f"toString(finalizeAggregation({name}))"
        if str(kind).startswith("AggregateFunction")
        else f"toString({name})"
        for name, kind in columns
    ]
    return store.rows(f"SELECT {', '.join(exprs)} FROM {store.table(table)} FINAL ORDER BY ALL")


def test_an_upgrade_folds_stored_events_into_the_rollups_as_a_fresh_store_would(
    settings: Settings, tmp_path: Path
) -> None:
    # The first release (001 to 005), events stored, then every later migration.
    first_release = tmp_path / "sql"
    first_release.mkdir()
    for path in sorted(SQL_DIR.glob("00[1-5]_*.sql")):
        shutil.copy(path, first_release)
    upgraded = Store.open(msgspec.structs.replace(settings, database=settings.database + "_up"))
    fresh = Store.open(settings)
    try:
        apply_migrations(upgraded, retention_days=400, sql_dir=first_release)
        history = _history()
        upgraded.insert_json_rows("events", EVENT_COLUMNS, history, dedup_token="history")
        apply_migrations(upgraded, retention_days=400)
        apply_migrations(fresh, retention_days=400)
        fresh.insert_json_rows("events", EVENT_COLUMNS, history, dedup_token="history")
        for table in BACKFILLED:
            folded = _finalized(upgraded, table)
            assert folded, f"{table}: the upgrade folded nothing in"
            assert folded == _finalized(fresh, table), table
    finally:
        upgraded.command(f"DROP DATABASE IF EXISTS {upgraded.db}")
        fresh.command(f"DROP DATABASE IF EXISTS {fresh.db}")


def test_a_backfill_names_a_view_of_its_own_migration() -> None:
    view = "CREATE MATERIALIZED VIEW IF NOT EXISTS d.v TO d.t AS\nSELECT 1 AS x FROM d.events"
    assert backfill_statement("BACKFILL d.v", (view,)) == (
        "d.t",
        "INSERT INTO d.t\nSELECT 1 AS x FROM d.events",
    )
    assert backfill_statement("SELECT 1", (view,)) is None
    with pytest.raises(ValueError, match="no materialized view"):
        backfill_statement("BACKFILL d.other", (view,))


def _before_vitals_days(tmp_path: Path) -> Path:
    """The migrations before `vitals_days` (sql/080) replaced `vitals_daily`."""
    release = tmp_path / "sql_before_080"
    release.mkdir(parents=True)
    for path in sorted(SQL_DIR.glob("0[0-7]?_*.sql")):
        shutil.copy(path, release)
    return release


def _create_query(store: Store, table: str) -> str:
    found = table_definition(store, table)
    return found[1] if found else ""


def test_vitals_daily_moves_into_vitals_days_with_its_rows_and_retention(
    settings: Settings, tmp_path: Path
) -> None:
    store = Store.open(settings)
    try:
        apply_migrations(store, retention_days=400, sql_dir=_before_vitals_days(tmp_path))
        store.insert_json_rows("events", EVENT_COLUMNS, _history(), dedup_token="history")
        # A site keeping its rollups longer than the default, as app/lifecycle writes it.
        ttl = (
            "day + toIntervalDay(900) WHERE site_id IN ('s_upgrade'), "
            "day + toIntervalDay(400) WHERE site_id NOT IN ('s_upgrade')"
        )
        store.command(f"ALTER TABLE {store.table('vitals_daily')} MODIFY TTL {ttl}")
        old_rows = _finalized(store, "vitals_daily")
        assert old_rows
        # Interrupted after the copy, before the old table was dropped and the migration
        # recorded: it runs again whole, and the rows are there once.
        interrupted = tmp_path / "sql_interrupted"
        shutil.copytree(_before_vitals_days(tmp_path / "again"), interrupted)
        (migration,) = SQL_DIR.glob("080_*.sql")
        text = migration.read_text()
        (interrupted / migration.name).write_text(text[: text.rindex("DROP TABLE")])
        apply_migrations(store, retention_days=400, sql_dir=interrupted)
        store.command(f"DELETE FROM {store.table('schema_migrations')} WHERE version = 80")
        assert apply_migrations(store, retention_days=400)[0] == migration.stem

        assert _finalized(store, "vitals_days") == old_rows
        assert _create_query(store, "vitals_daily") == ""  # the old table is gone
        assert _create_query(store, "vitals_daily_mv") == ""
        created = _create_query(store, "vitals_days")
        assert "index_granularity = 256" in created
        assert f"TTL {ttl} SETTINGS" in created
        # Nothing left to move once the old table is gone.
        assert move_rows(store, "vitals_daily", "vitals_days") is False
        # New vitals flow into the new table through its view.
        samples = f"SELECT sum(samples) FROM {store.table('vitals_days')} WHERE dim = ''"
        before = store.rows(samples)[0][0]
        store.insert_json_rows("events", EVENT_COLUMNS, _history(), dedup_token="more")
        assert store.rows(samples)[0][0] == before + 12
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.db}")


def test_moved_rows_keep_their_columns_whatever_the_order(store: Store) -> None:
    old, new = store.table("move_old"), store.table("move_new")
    store.command(f"CREATE TABLE {old} (a String, b UInt64) ENGINE = MergeTree ORDER BY a")
    store.command(f"CREATE TABLE {new} (b UInt64, a String) ENGINE = MergeTree ORDER BY a")
    store.command(f"INSERT INTO {old} VALUES ('x', 1), ('y', 2)")
    assert move_rows(store, "move_old", "move_new") is True
    assert store.rows(f"SELECT a, b FROM {new} ORDER BY a") == [("x", 1), ("y", 2)]
    assert move_rows(store, "move_missing", "move_new") is False
    assert store.rows(f"SELECT count() FROM {new}")[0][0] == 2
