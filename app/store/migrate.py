"""Schema migrations: the numbered files of `sql/`, applied in order, each once.

A migration file is `NNN_name.sql`, statements separated by `;` at the end of a line.
Two placeholders are substituted before running: `{db}` (the validated database name)
and `{retention_days}` (an integer). Applied versions are recorded in
`schema_migrations`; re-running is a no-op. ClickHouse DDL is not transactional, so
every statement is written to be idempotent (`IF NOT EXISTS`), which makes a migration
interrupted half-way safe to run again.

One statement is Beacon's own: `BACKFILL {db}.<view>` folds the events stored before
the migration into a new rollup — it runs the SELECT of the materialized view `<view>`
(created later in the same migration) into the view's target table, once, while that
table is empty. The backfill is the view's own query, so the two cannot drift apart.
Likewise `CLOSE_AGAIN <table>` copies every closed day into a closed copy added to a
store that already has closed days, by the copy's own declaration (app/store/closing.py).
And `MOVE_ROWS {db}.<old> TO {db}.<new>` copies every row of a table being replaced
into its successor (a table setting such as the granule size cannot be altered): only
while the old table exists (the migration drops it last), emptying the new one first,
so that a migration interrupted anywhere runs again whole; the new table takes the old
one's TTL rules (per-site retention) before the rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from app.lifecycle.retention import current_ttl, table_definition
from app.store import closing
from app.store.client import Store

__all__ = [
    "SQL_DIR",
    "Migration",
    "apply_migrations",
    "backfill_statement",
    "load_migrations",
    "render",
]

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(text: str) -> tuple[str, ...]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";[ \t]*(?:\n|$)", "\n".join(lines))
    return tuple(part.strip() for part in parts if part.strip())


def load_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: migration files are named NNN_name.sql")
        migrations.append(
            Migration(int(match[1]), match[2], split_statements(path.read_text("utf-8")))
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{sql_dir}: two migrations share a version number")
    return migrations


_BACKFILL = re.compile(r"^BACKFILL (\w+)\.(\w+)$")
_CLOSE_AGAIN = re.compile(r"^CLOSE_AGAIN (\w+)$")
_MOVE_ROWS = re.compile(r"^MOVE_ROWS (\w+)\.(\w+) TO (\w+)\.(\w+)$")
_VIEW = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+) TO (\w+)\.(\w+) AS\s+(.*)$", re.S
)


def backfill_statement(statement: str, statements: tuple[str, ...]) -> tuple[str, str] | None:
    """For a `BACKFILL db.view` directive: (target table, `INSERT … SELECT`) made from the
    view's definition among `statements` (rendered); None for any other statement."""
    directive = _BACKFILL.match(statement)
    if directive is None:
        return None
    for candidate in statements:
        view = _VIEW.match(candidate)
        if view and (view[1], view[2]) == (directive[1], directive[2]):
            target = f"{view[3]}.{view[4]}"
            return target, f"INSERT INTO {target}\n{view[5]}"
    raise ValueError(f"{statement}: no materialized view of that name in this migration")


def move_rows(store: Store, source: str, target: str) -> bool:
    """Copy every row of `source` into `target` (unqualified names in the store's
    database; every column of `target` must be one of `source`), after emptying `target`
    and giving it `source`'s TTL; False, and nothing done, when `source` does not exist
    (moved and dropped already)."""
    if table_definition(store, source) is None:
        return False
    ttl = current_ttl(store, source)
    if ttl and current_ttl(store, target) != ttl:
        store.command(f"ALTER TABLE {store.table(target)} MODIFY TTL {ttl}")
    columns = ", ".join(
        f"`{name}`"
        for (name,) in store.rows(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position",
            {"db": store.db, "t": target},
        )
    )
    store.command(f"TRUNCATE TABLE {store.table(target)}")
    # By name: the two tables may list their columns in different orders.
    store.command(
        f"INSERT INTO {store.table(target)} ({columns}) SELECT {columns} FROM {store.table(source)}"
    )
    return True


def render(statement: str, *, db: str, retention_days: int) -> str:
    return statement.replace("{db}", db).replace("{retention_days}", str(int(retention_days)))


def apply_migrations(store: Store, *, retention_days: int, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    store.command(
        f"CREATE TABLE IF NOT EXISTS {store.table('schema_migrations')} "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )
    done = {row[0] for row in store.rows(f"SELECT version FROM {store.table('schema_migrations')}")}
    applied = []
    for migration in load_migrations(sql_dir):
        if migration.version in done:
            continue
        rendered = tuple(
            render(statement, db=store.db, retention_days=retention_days)
            for statement in migration.statements
        )
        for statement in rendered:
            backfill = backfill_statement(statement, rendered)
            close_again = _CLOSE_AGAIN.match(statement)
            moved = _MOVE_ROWS.match(statement)
            if moved is not None:
                if (moved[1], moved[3]) != (store.db, store.db):
                    raise ValueError(f"{statement}: both tables must be in {store.db}")
                move_rows(store, moved[2], moved[4])
            elif close_again is not None:
                # Idempotent like BACKFILL: only into an empty copy.
                if store.rows(f"SELECT count() FROM {store.table(close_again[1])}")[0][0] == 0:
                    closing.close_again(store, close_again[1])
            elif backfill is None:
                store.command(statement)
            elif store.rows(f"SELECT count() FROM {backfill[0]}")[0][0] == 0:
                store.command(backfill[1])
        store.command(
            f"INSERT INTO {store.table('schema_migrations')} (version, name) "
            "VALUES ({version:UInt32}, {name:String})",
            {"version": migration.version, "name": migration.name},
        )
        applied.append(f"{migration.version:03d}_{migration.name}")
    return applied
