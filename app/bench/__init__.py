"""Benchmarks and the demo traffic generator: `beacon bench <name>` and `beacon demo`.

Each benchmark module has a `register(benches)` that adds its subcommand (its options
and `func`) to the `beacon bench` subparsers; `register` here calls them in the order of
`BENCHES`, so a new benchmark is a module plus one name below. Shared parts: the load
generator (`loadgen`), request pools (`traffic`), /proc sampling (`cpu`), percentile
maths (`stats`), processes (`procs`), one measured phase (`measure`).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BENCHES", "register"]

#: Benchmark modules under app/bench/, each with `register(benches)`.
BENCHES = ("ingest", "queries", "triage", "scale", "alerts", "dashboard")


def register(benches: Any) -> None:
    for name in BENCHES:
        importlib.import_module(f"app.bench.{name}").register(benches)
