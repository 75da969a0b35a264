"""Migrations run once each, in order, and are recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.store.client import Store
from app.store.migrate import apply_migrations, load_migrations, split_statements


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
    # only right while every column of events defaults to its type's default.
    with_defaults = store.rows(
        "SELECT name, default_kind FROM system.columns "
        "WHERE database = {db:String} AND table = 'events' AND default_kind != ''",
        {"db": store.db},
    )
    assert with_defaults == []


def test_statements_split_on_line_final_semicolons() -> None:
    text = "-- comment; not a split\nCREATE TABLE a (x String DEFAULT ';');\nSELECT 1;\n"
    assert split_statements(text) == ("CREATE TABLE a (x String DEFAULT ';')", "SELECT 1")


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"NNN_name\.sql"):
        load_migrations(tmp_path)
