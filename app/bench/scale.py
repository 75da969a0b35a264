"""`beacon bench scale`: embedded mode against scale mode, in one run, on this machine.

Phase 1, embedded: one `beacon serve` (spool with `fsync`, batcher, chdb in-process),
exactly as `beacon bench ingest` runs it. Phase 2, scale: a `redis-server` of its own
(append-only file with `appendfsync always`, the same durability promise as the spool's
`fsync`), `beacon serve --workers N` (N stateless ingest processes sharing the port) and
one `beacon worker` (stream → chdb, under the bench probe). Both get the same request
pool (`--mix`) and load. Reported per phase, side by side: req/s, stored events/s,
latency p50/p99/p99.9/max, non-2xx answers, time to catch up, the backlog each second
(spool bytes, or stream entries) and CPU per stored event by process and component.

Everything runs on 127.0.0.1, bounded by `--seconds`; every process started here is
stopped here, by its pid. In scale mode "stored" is the worker's inserted rows (ingest
processes share a port, so no one of them can be asked for the accepted total).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import redis

from app.bench import procs
from app.bench.ingest import (
    add_load_options,
    beacon_phase,
    bench_env,
    print_phases,
    print_windows,
    settle,
)
from app.bench.loadgen import binary, run_load, write_pool
from app.bench.measure import PhaseReport, measure
from app.bench.scrape import scrape
from app.bench.traffic import pool

__all__ = ["register", "run_scale_bench"]


def register(benches: Any) -> None:
    parser = benches.add_parser(
        "scale", help="embedded vs scale mode (2 ingest processes + 1 worker), same run"
    )
    add_load_options(parser, seconds=20.0)
    parser.add_argument("--ingest", type=int, default=2, help="ingest processes in scale mode")
    parser.set_defaults(func=run_scale_bench)


def _scale_phase(
    work: Path, args: argparse.Namespace, traffic_pool: Any, epr: float
) -> PhaseReport:
    redis_process, url = procs.start_redis(work / "redis")
    env = {**bench_env(work / "scale"), "BEACON_REDIS_URL": url}
    worker_port, ingest_port = procs.free_port(), procs.free_port()
    processes = [redis_process]
    probe_dir = work / "worker-probe"
    try:
        worker = procs.start_server(
            [sys.executable, "-m", "app.bench.probe", str(probe_dir), "--stall-ms",
             str(args.stall_ms), "--", "worker", "--port", str(worker_port)],
            env, worker_port, work / "worker.log",
        )  # fmt: skip
        processes.append(worker)
        worker_base = f"http://127.0.0.1:{worker_port}"
        procs.wait_ready(worker_base)
        site, _ = procs.site_add(env)
        pool_file = work / "scale-pool.bin"
        write_pool(pool_file, traffic_pool.for_site(site))
        ingest = procs.start_server(
            [sys.executable, "-m", "app", "serve", "--port", str(ingest_port), "--workers",
             str(args.ingest)],
            env, ingest_port, work / "ingest.log",
        )  # fmt: skip
        processes.append(ingest)
        procs.wait_ready(f"http://127.0.0.1:{ingest_port}")
        stream = f"{env.get('BEACON_REDIS_PREFIX', 'beacon')}:{{stream}}"
        with redis.Redis.from_url(url) as client:

            def gauges() -> dict[str, float]:
                return {
                    "stored": scrape(worker_base).get("beacon_rows_inserted_total", 0.0),
                    "backlog": float(client.xlen(stream)),
                }

            def names() -> dict[int, str]:
                try:
                    text = (probe_dir / "threads.json").read_text()
                    return {int(k): v for k, v in json.loads(text).items()}
                except (OSError, ValueError):
                    return {}

            run_load(
                ingest_port, pool_file, connections=args.concurrency, seconds=2,
                rate=args.rate, records=work / "warm-up.rec",
            )  # fmt: skip
            settle(gauges, lambda g: g.get("backlog", 1) == 0)
            report = measure(
                f"scale ({args.ingest} ingest + 1 worker)", port=ingest_port, pool=pool_file,
                records=work / "scale.rec",
                processes={"ingest": ingest.pid, "worker": worker.pid,
                           "redis": redis_process.pid},
                gauges=gauges, caught_up=lambda g: g.get("backlog", 1) == 0,
                backlog_key="backlog", backlog_unit="stream entries", events_per_request=epr,
                connections=args.concurrency, seconds=args.seconds, rate=args.rate,
                probe_dir=probe_dir, names=names,
            )  # fmt: skip
    finally:
        for process in reversed(processes):
            procs.stop(process)
    # Scale mode cannot count accepted events in one place: everything accepted was
    # stored once the stream is empty, so the window's stored rows stand for both.
    report.accepted_events = report.stored_events
    report.accepted_events_per_second = report.stored_events_per_second
    return report


def run_scale_bench(args: argparse.Namespace) -> int:
    binary()
    traffic = pool(args.mix, events=args.events)
    epr = traffic.events_per_request
    with tempfile.TemporaryDirectory(prefix="beacon-bench-scale-") as tmp:
        work = Path(args.out) if args.out else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = bench_env(work / "embedded")
        env.pop("BEACON_REDIS_URL", None)
        site, _ = procs.site_add(env)
        pool_file = work / "embedded-pool.bin"
        write_pool(pool_file, traffic.for_site(site))
        embedded = beacon_phase(work, env, pool_file, args, epr)
        scale = _scale_phase(work, args, traffic, epr)
        results = {
            "mix": args.mix,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "rate": args.rate,
            "cpus": os.cpu_count(),
            "events_per_request": round(epr, 2),
            "phases": [msgspec.to_builtins(embedded), msgspec.to_builtins(scale)],
            "scale_to_embedded_stored": round(
                scale.stored_events_per_second / max(embedded.stored_events_per_second, 1e-9), 3
            ),
        }
        if args.out:
            (work / "report.json").write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    mode = f"at {args.rate:.0f} req/s" if args.rate else "as fast as answered"
    print(
        f"mix {args.mix} ({epr:.2f} events per request), {args.seconds:.0f} s per phase {mode}, "
        f"{args.concurrency} connections, {os.cpu_count()} CPUs"
    )
    print_phases([embedded, scale])
    print(f"scale / embedded, stored events/s: {results['scale_to_embedded_stored']:.3f}")
    for phase in (embedded, scale):
        total = sum(sum(c.values()) for c in phase.cpu_seconds.values())
        per_event = total / max(phase.stored_events, 1) * 1e6
        parts = ", ".join(
            f"{k} {v:.1f}" for k, v in phase.cpu_us_per_stored_event.items() if v >= 0.5
        )
        print(f"CPU µs per stored event, {phase.name}: total {per_event:.1f} ({parts})")
    for phase in (embedded, scale):
        print_windows(phase)
    return 0
