"""Runs SQL against a stopped Beacon's embedded store and prints what came back.

`python -m tests.web.grafana_sql DATA_DIR < queries.json` (a JSON list of SQL texts) prints
a JSON list with, per query, the column names, the Python type of each value of the first
row, the row count, or the error. A separate process: chdb allows one engine per process,
and a test process already has its own.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from app.config import Settings
from app.store.client import Store, StoreError


def run(store: Store, sql: str) -> dict[str, Any]:
    try:
        names, rows = store.query(sql)
    except StoreError as exc:
        return {"error": str(exc)[:2000]}
    first = rows[0] if rows else ()
    return {
        "columns": list(names),
        "types": [type(value).__name__ for value in first],
        "first": [value if isinstance(value, int | float | str) else str(value) for value in first],
        "rows": len(rows),
    }


def main() -> None:
    store = Store.open(Settings(data_dir=sys.argv[1]))
    queries = json.load(sys.stdin)
    print(json.dumps([run(store, sql) for sql in queries], default=str))


if __name__ == "__main__":
    main()
