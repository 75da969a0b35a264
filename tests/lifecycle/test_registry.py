"""The lifecycle registry accounts for every table that holds a site's data."""

from __future__ import annotations

from app.lifecycle.erasure import CLOSERS
from app.lifecycle.registry import DERIVED, SOURCE, covered
from app.store.client import Store


def _site_tables(store: Store) -> set[str]:
    rows = store.rows(
        "SELECT DISTINCT c.table FROM system.columns AS c "
        "INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = {db:String} AND c.name = 'site_id' AND t.engine LIKE '%MergeTree'",
        {"db": store.db},
    )
    return {row[0] for row in rows}


def test_every_table_with_a_site_id_is_in_the_registry(store: Store) -> None:
    tables = _site_tables(store)
    assert SOURCE in tables
    missing = tables - covered()
    assert not missing, (
        f"tables with site_id that app/lifecycle/registry.py does not cover: {sorted(missing)}; "
        "declare how each is rebuilt for erasure and which retention it follows"
    )
    assert not covered() - tables, "the registry names tables that do not exist"


def test_every_derived_table_can_be_rebuilt(store: Store) -> None:
    views = {
        row[0]: row[1]
        for row in store.rows(
            "SELECT name, create_table_query FROM system.tables "
            "WHERE database = {db:String} AND engine = 'MaterializedView'",
            {"db": store.db},
        )
    }
    for derived in DERIVED:
        if derived.rebuild == "view":
            assert derived.view in views, derived.table
            assert f" TO {store.db}.{derived.table} " in views[derived.view], derived.view
        elif derived.rebuild == "closer":
            assert derived.table in CLOSERS, derived.table
    # Every view that writes a table is the one the registry rebuilds that table with.
    for view, query in views.items():
        target = query.split(" TO ", 1)[1].split(" ", 1)[0].split(".", 1)[1]
        derived = next((d for d in DERIVED if d.table == target), None)
        assert derived is not None, f"{view} writes {target}, which the registry lacks"
        assert derived.rebuild == "drop" or derived.view == view, view


def test_the_events_partition_key_is_the_one_erasure_uses(store: Store) -> None:
    from app.lifecycle.registry import EVENTS_PARTITION

    key = store.rows(
        "SELECT partition_key FROM system.tables WHERE database = {db:String} AND name = 'events'",
        {"db": store.db},
    )[0][0]
    assert key == EVENTS_PARTITION
