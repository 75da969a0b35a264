"""`beacon bench ingest`: the ingest benchmark anyone can re-run on loopback.

In one run, on this machine, with the same request pool (`--mix`, app/bench/traffic.py)
and the same load (`--concurrency` connections, `--seconds`, as fast as answered or at
`--rate` requests per second; app/bench/loadgen.py):
1. a bare ASGI app that only decodes the bodies with msgspec (app/bench/bare.py): the
   ceiling of Python on this machine for the same requests (`--no-bare` skips it);
2. Beacon itself (`beacon serve`: one uvicorn worker, uvloop + httptools, embedded chdb,
   spool fsync on), trusting `X-Forwarded-For` for client addresses, rate limits off,
   run under the bench probe (app/bench/probe.py) for its loop lag, collections and
   chdb figures.

Reported: req/s, accepted and stored events/s, latency p50/p99/p99.9/max overall and per
10-second window, spool backlog and RSS every second, how long storage took to catch up,
and CPU per request and per stored event by component (see `components` below for what
is measured and what inferred). Traffic goes to 127.0.0.1 only; each phase stops itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from app.bench import procs
from app.bench.loadgen import binary, run_load, write_pool
from app.bench.measure import PhaseReport, measure
from app.bench.scrape import scrape, steps
from app.bench.traffic import MIXES, pool

__all__ = [
    "beacon_phase",
    "bench_env",
    "components",
    "register",
    "run_ingest_bench",
    "settle",
]

#: Rate limits off in the server under test (another branch adds embedded-mode limits
#: under these names; 0 turns each off).
_NO_LIMITS = {
    "BEACON_RATE_LIMIT_IP_PER_SECOND": "0",
    "BEACON_RATE_LIMIT_SITE_EVENTS_PER_SECOND": "0",
}


def register(benches: Any) -> None:
    parser = benches.add_parser("ingest", help="ingest throughput, latency and CPU on loopback")
    add_load_options(parser)
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-app phase")
    parser.add_argument(
        "--profile", metavar="PATH", help="py-spy record the server under load into PATH (raw)"
    )
    parser.set_defaults(func=run_ingest_bench)


def add_load_options(parser: argparse.ArgumentParser, seconds: float = 10.0) -> None:
    parser.add_argument("--seconds", type=float, default=seconds, help="duration of each phase")
    parser.add_argument("--concurrency", type=int, default=64, help="connections")
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="fixed rate in requests/s, latency from each request's due time (0: as fast as "
        "answered)",
    )  # fmt: skip
    parser.add_argument("--mix", choices=MIXES, default="realistic", help="request pool")
    parser.add_argument("--events", type=int, default=10, help="events per request (repeat)")
    parser.add_argument(
        "--stall-ms", type=float, default=150.0,
        help="event-loop lag at which the probe dumps the server's stacks",
    )  # fmt: skip
    parser.add_argument(
        "--census", type=float, default=0.0, metavar="S",
        help="every S seconds, count the server's GC-tracked objects by type (stalls it)",
    )  # fmt: skip
    parser.add_argument("--out", metavar="DIR", help="keep the run's files (probe, dumps, logs)")
    parser.add_argument("--json", action="store_true")


def bench_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BEACON_DATA_DIR": str(data_dir),
        "BEACON_CLIENT_IP_HEADER": "X-Forwarded-For",
        "BEACON_LOG_LEVEL": "WARNING",
        **_NO_LIMITS,
    }


def components(report: PhaseReport, bare_event_loop_us: float | None) -> dict[str, Any]:
    """CPU µs per stored event by component, each marked measured or inferred.

    Measured (from /proc, by thread): the event loop, the spool's I/O thread, the batcher
    thread (spool read + chdb insert parsing + materialized views: one thread, one
    figure), chdb's merge and pool threads, other threads; measured (the server's own
    wall-clock timers, sampled 1 request in 16): the pipeline steps. Inferred: HTTP (the
    bare app's event-loop CPU per request, same requests), and encoding + spool hand-off
    + answer (the event loop minus HTTP minus the pipeline).
    """
    stored = max(report.stored_events, 1)
    requests = max(report.load.answered, 1)
    rows: dict[str, Any] = {}
    loop_us = 0.0
    for component, seconds in report.cpu_seconds.get("beacon", {}).items():
        rows[component] = {"us_per_event": round(seconds / stored * 1e6, 2), "how": "measured"}
        if component == "event loop":
            loop_us = seconds / requests * 1e6
    pipeline = sum(report.pipeline_us_per_request.values())
    if bare_event_loop_us is not None and loop_us:
        per_event = requests / stored
        rows["  of which HTTP (bare app's loop)"] = {
            "us_per_event": round(bare_event_loop_us * per_event, 2), "how": "inferred"
        }  # fmt: skip
        rows["  of which pipeline steps"] = {
            "us_per_event": round(pipeline * per_event, 2), "how": "measured (wall)"
        }  # fmt: skip
        rows["  of which encoding, spool hand-off, answer"] = {
            "us_per_event": round((loop_us - bare_event_loop_us - pipeline) * per_event, 2),
            "how": "inferred",
        }
    total = sum(report.cpu_seconds.get("beacon", {}).values())
    rows["total (all threads)"] = {
        "us_per_event": round(total / stored * 1e6, 2),
        "how": "measured",
    }
    return rows


def settle(
    gauges: Callable[[], Mapping[str, float]],
    done: Callable[[Mapping[str, float]], bool],
    limit: float = 120,
) -> None:
    """Until the warm-up's backlog is stored, so that the measured phase starts empty."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not done(gauges()):
        time.sleep(0.1)


def _start_profiler(pid: int, seconds: float, output: str) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [py_spy, "record", "-p", str(pid), "-d", str(max(1, int(seconds) - 1)), "-r", "200",
         "-f", "raw", "-o", output, "--threads", "--nonblocking"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _bare_phase(work: Path, pool_file: Path, args: argparse.Namespace, epr: float) -> PhaseReport:
    port = procs.free_port()
    server = procs.start_server(
        [sys.executable, "-m", "uvicorn", "app.bench.bare:bare_app", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
         "warning"],
        os.environ, port, work / "bare.log",
    )  # fmt: skip
    try:
        _warm_up(port, pool_file, work, args)
        return measure(
            "bare msgspec decode app", port=port, pool=pool_file, records=work / "bare.rec",
            processes={"bare": server.pid}, gauges=dict, caught_up=lambda _: True,
            backlog_key="none", backlog_unit="", events_per_request=epr,
            connections=args.concurrency, seconds=args.seconds, rate=args.rate,
        )  # fmt: skip
    finally:
        procs.stop(server)


def _warm_up(port: int, pool_file: Path, work: Path, args: argparse.Namespace) -> None:
    run_load(
        port, pool_file, connections=args.concurrency, seconds=2, rate=args.rate,
        records=work / "warm-up.rec",
    )  # fmt: skip


def beacon_phase(
    work: Path, env: dict[str, str], pool_file: Path, args: argparse.Namespace, epr: float
) -> PhaseReport:
    port = procs.free_port()
    env = {**env, "BEACON_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    probe_dir = work / "probe"
    server = procs.start_server(
        [sys.executable, "-m", "app.bench.probe", str(probe_dir), "--stall-ms",
         str(args.stall_ms), "--census", str(args.census), "--", "serve"],
        env, port, work / "beacon.log",
    )  # fmt: skip

    def gauges() -> dict[str, float]:
        values = scrape(base)
        return {
            "stored": values.get("beacon_rows_inserted_total", 0.0),
            "accepted": values.get("beacon_events_accepted_total", 0.0),
            "backlog": values.get("beacon_spool_backlog_bytes", 0.0),
        }

    def names() -> dict[int, str]:
        try:
            return {
                int(k): v for k, v in json.loads((probe_dir / "threads.json").read_text()).items()
            }
        except (OSError, ValueError):
            return {}

    try:
        _warm_up(port, pool_file, work, args)
        settle(gauges, lambda g: g.get("stored", 0) >= g.get("accepted", 1))
        before = steps(scrape(base))
        spy = getattr(args, "profile", None)  # bench scale has no --profile
        profiler = _start_profiler(server.pid, args.seconds, spy) if spy else None
        report = measure(
            "beacon ingest", port=port, pool=pool_file, records=work / "beacon.rec",
            processes={"beacon": server.pid}, gauges=gauges,
            caught_up=lambda g: g.get("stored", 0) >= g.get("accepted", 1),
            backlog_key="backlog", backlog_unit="spool bytes", events_per_request=epr,
            connections=args.concurrency, seconds=args.seconds, rate=args.rate,
            probe_dir=probe_dir, names=names,
        )  # fmt: skip
        if profiler is not None:
            profiler.wait(60)
        after = steps(scrape(base))
        report.pipeline_us_per_request = {
            step: round(
                (after[step] - before.get(step, 0.0)) / max(report.load.answered, 1) * 1e6, 1
            )
            for step in after
        }
    finally:
        procs.stop(server)
    return report


def run_ingest_bench(args: argparse.Namespace) -> int:
    binary()  # compile the load generator first: a missing compiler fails fast
    traffic = pool(args.mix, events=args.events)
    results: dict[str, Any] = {
        "mix": args.mix,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "pool_requests": len(traffic.bodies),
        "events_per_request": round(traffic.events_per_request, 2),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        work = Path(args.out) if args.out else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = bench_env(work / "data")
        site, _ = procs.site_add(env)
        pool_file = work / "pool.bin"
        write_pool(pool_file, traffic.for_site(site))
        epr = traffic.events_per_request
        bare = None if args.no_bare else _bare_phase(work, pool_file, args, epr)
        beacon = beacon_phase(work, env, pool_file, args, epr)
        bare_loop = None
        if bare is not None:
            bare_loop = bare.cpu_us_per_request.get("bare: event loop")
            results["bare"] = msgspec.to_builtins(bare)
            results["ratio_requests"] = round(
                beacon.load.requests_per_second / max(bare.load.requests_per_second, 1e-9), 3
            )
            results["ratio_stored_events_to_bare_events"] = round(
                beacon.stored_events_per_second
                / max(bare.load.requests_per_second * epr, 1e-9), 3
            )  # fmt: skip
        results["beacon"] = msgspec.to_builtins(beacon)
        results["cpu_us_per_stored_event"] = components(beacon, bare_loop)
        if args.out:
            (work / "report.json").write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_report(results, [p for p in (bare, beacon) if p is not None])
    return 0


def print_report(results: dict[str, Any], phases: list[PhaseReport]) -> None:
    mode = f"at {results['rate']:.0f} req/s" if results["rate"] else "as fast as answered"
    print(
        f"mix {results['mix']} ({results['pool_requests']} distinct requests, "
        f"{results['events_per_request']} events each on average), {results['seconds']:.0f} s "
        f"{mode}, {results['concurrency']} connections, {results['cpus']} CPUs"
    )
    print_phases(phases)
    if "ratio_requests" in results:
        print(
            f"beacon / bare: {results['ratio_requests']:.3f} of its requests/s; stored events/s "
            f"{results['ratio_stored_events_to_bare_events']:.3f} of its decoded events/s"
        )
    print("CPU µs per stored event, beacon (measured: /proc by thread; see README):")
    for name, row in results["cpu_us_per_stored_event"].items():
        print(f"  {name:46}{row['us_per_event']:>9.2f}  {row['how']}")
    beacon = phases[-1]
    for phase in phases:
        print_windows(phase)
    steps_text = ", ".join(f"{k} {v:.1f}" for k, v in beacon.pipeline_us_per_request.items())
    print(f"pipeline step µs per request (wall, in the event loop): {steps_text}")
    probe = beacon.probe
    if probe:
        print(
            f"collections during the load, by generation: {probe.get('gc_count_by_generation')} "
            f"taking {probe.get('gc_ms_by_generation')} ms; worst loop lag "
            f"{probe.get('loop_lag_max_ms')} ms; stall dumps: {len(probe.get('stall_dumps', []))}"
        )
        for gen, worst in probe.get("slowest_collection_by_generation", {}).items():
            print(
                f"  generation {gen}: {worst['count_over_5ms']} collections over 5 ms, slowest "
                f"{worst['wall_ms']} ms wall, {worst['cpu_ms']} ms of its thread's CPU"
            )
        for stall in probe.get("stalls", [])[:10]:
            print(f"  stall: {stall['header']}")
            for frame in stall["main_thread"]:
                print(f"      {frame}")


def print_phases(phases: list[PhaseReport]) -> None:
    head = ("req/s", "stored/s", "p50 ms", "p99 ms", "p99.9", "max ms", "non-2xx", "catch-up",
            "others")  # fmt: skip
    print(f"{'':36}" + "".join(f"{h:>10}" for h in head))
    for p in phases:
        o = p.load.overall
        print(
            f"{p.name:36}{p.load.requests_per_second:>10.0f}"
            f"{f'{p.stored_events_per_second:.0f}' if p.backlog_unit else '-':>10}"
            f"{o.p50_ms:>10.2f}{o.p99_ms:>10.2f}{o.p999_ms:>10.2f}{o.max_ms:>10.1f}"
            f"{p.load.non_2xx + p.load.errors:>10}{p.catch_up_seconds:>9.1f}s"
            f"{p.other_cores:>10.2f}"
        )
    print("(others: cores the rest of the machine kept busy meanwhile, load generator included)")
    for p in phases:
        if p.cpu_seconds:
            shares = ", ".join(f"{k} {v:.0f}" for k, v in p.cpu_us_per_request.items() if v >= 1)
            print(f"CPU µs per request, {p.name}: {shares}; load generator "
                  f"{p.loadgen_cpu_us_per_request:.0f}")  # fmt: skip


def print_windows(phase: PhaseReport) -> None:
    if len(phase.windows) < 2 and not phase.backlog:
        return
    print(f"{phase.name}, per 10 s window:")
    print(
        "   from   req/s  p50 ms  p99 ms  p99.9 ms  max ms  stored/s   backlog  RSS MB"
        "  lag ms   gc ms  gc max  merges merge s merged MB  parts fsync max insert max  settle"
    )

    def opt(value: float | None, width: int, digits: int = 0) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

    for w in phase.windows:
        print(
            f"{w.start_s:>7.0f}{w.requests_per_second:>8.0f}{w.p50_ms:>8.1f}{w.p99_ms:>8.1f}"
            f"{w.p999_ms:>10.1f}{w.max_ms:>8.0f}{w.stored_per_second:>10.0f}{w.backlog_end:>10.0f}"
            f"{w.rss_mb_max:>8.0f}{opt(w.loop_lag_max_ms, 8)}{opt(w.gc_ms, 8)}"
            f"{opt(w.gc_slowest_ms, 8, 1)}{opt(w.merges_started, 8)}"
            f"{opt(None if w.merge_ms is None else w.merge_ms / 1000, 8, 1)}"
            f"{opt(w.merged_mb, 10)}{opt(w.parts_end, 7)}"
            f"{opt(w.fsync_max_ms, 10, 1)}{opt(w.insert_max_ms, 11)}{opt(w.settle_ms, 8)}"
        )
    print(
        f"{phase.name}, CPU by component per 10 s window (cores; the rest of the machine: "
        "other processes, the load generator included)"
    )
    for w in phase.windows:
        cores = ", ".join(f"{k} {v:.2f}" for k, v in sorted(w.cores.items(), key=lambda i: -i[1]))
        rest = "" if w.other_cores is None else f"; rest of the machine {w.other_cores:.2f}"
        print(f"{w.start_s:>7.0f}  {cores}{rest}")
    if phase.backlog:
        text = " ".join(f"{v:.0f}" for _, v in phase.backlog)
        print(f"{phase.name} backlog ({phase.backlog_unit}), each second: {text}")
    for label, series in phase.rss_mb.items():
        print(f"{label} RSS MB, each second: " + " ".join(f"{v:.0f}" for _, v in series[::5])
              + " (every 5th)")  # fmt: skip
