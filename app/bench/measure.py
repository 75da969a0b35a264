"""One measured phase of an ingest benchmark: load a server, watch it, summarize.

A phase runs `loadgen` against a port for `seconds` (closed loop, or a fixed `rate`)
while a `Sampler` reads the server processes' CPU by thread and RSS and the caller's
gauges (stored rows, spool backlog or stream length) every second; then it waits until
storage caught up (stored ≥ accepted, or the stream is empty) and turns it all into a
`PhaseReport`: req/s, accepted and stored events/s, latency overall and per 10-second
window, backlog and RSS over time, time to catch up, and CPU per component — per request
and per stored event. With a probe directory (`app/bench/probe.py`) the windows also
carry the event loop's worst lag, garbage-collection time and running merges.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from app.bench.cpu import Sampler, cpu_by_component
from app.bench.loadgen import LoadResult, run_load

__all__ = ["PhaseReport", "WindowReport", "measure"]


class WindowReport(msgspec.Struct):
    start_s: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    stored_per_second: float
    backlog_end: float
    rss_mb_max: float
    loop_lag_max_ms: float | None = None
    gc_ms: float | None = None
    gc_slowest_ms: float | None = None
    merges_started: int | None = None
    merged_rows: int | None = None
    merged_mb: float | None = None  # uncompressed
    merge_ms: int | None = None  # summed over merge threads (MergeTotalMilliseconds)
    parts_end: int | None = None
    fsync_max_ms: float | None = None
    insert_max_ms: float | None = None
    settle_ms: float | None = None  # the settling runs that started in the window
    #: CPU by component in the window, in cores (CPU seconds per second), all processes.
    cores: dict[str, float] = {}
    machine_cores: float | None = None  # the whole machine busy, in cores
    other_cores: float | None = None  # of which not the measured processes (load included)


class PhaseReport(msgspec.Struct):
    name: str
    load: LoadResult
    events_per_request: float
    accepted_events: float
    stored_events: float
    accepted_events_per_second: float
    stored_events_per_second: float
    catch_up_seconds: float
    backlog_unit: str
    backlog: list[tuple[float, float]]  # (s since load start, value)
    rss_mb: dict[str, list[tuple[float, float]]]
    cpu_seconds: dict[str, dict[str, float]]  # process label → component → seconds
    cpu_us_per_request: dict[str, float]  # "label: component" → µs
    cpu_us_per_stored_event: dict[str, float]
    loadgen_cpu_us_per_request: float
    pipeline_us_per_request: dict[str, float] = {}
    #: Cores the rest of the machine kept busy during the load (other processes and the
    #: load generator): the figures of a shared machine are only as good as this is low.
    other_cores: float = 0.0
    windows: list[WindowReport] = []
    probe: dict[str, Any] = {}


def _probe_lines(directory: Path | None) -> list[dict[str, Any]]:
    if directory is None or not (directory / "probe.jsonl").exists():
        return []
    lines = []
    for line in (directory / "probe.jsonl").read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def stall_summary(dump: Path, frames: int = 4) -> dict[str, Any]:
    """The lag and the innermost frames of the main thread in one stall dump."""
    text = dump.read_text(errors="replace")
    lines = text.splitlines()
    header = lines[0] if lines else ""
    main: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("Thread "):
            inside = '"MainThread"' in line
            if inside:
                main.append(line.strip())
            continue
        if inside and line.startswith(" ") and len(main) <= frames:
            main.append(line.strip())
    return {"file": dump.name, "header": header.lstrip("# "), "main_thread": main}


def _event(line: dict[str, Any], name: str) -> int:
    chdb = line.get("chdb") or {}
    return int((chdb.get("events") or {}).get(name, 0))


def measure(
    name: str,
    *,
    port: int,
    pool: Path,
    records: Path,
    processes: Mapping[str, int],
    gauges: Callable[[], Mapping[str, float]],
    caught_up: Callable[[Mapping[str, float]], bool],
    backlog_key: str,
    backlog_unit: str,
    events_per_request: float,
    connections: int,
    seconds: float,
    rate: float = 0.0,
    probe_dir: Path | None = None,
    names: Callable[[], dict[int, str]] = dict,
    catch_up_limit: float = 300.0,
) -> PhaseReport:
    """Load, sample, wait for storage, summarize (see the module docstring)."""
    sampler = Sampler(processes, gauges)
    load_wall = 0.0
    with sampler:
        first = sampler.take()
        load_wall = time.time()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = run_load(
            port, pool, connections=connections, seconds=seconds, rate=rate, records=records
        )
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        last = sampler.take()
        ended = time.monotonic()
        current = last.gauges
        while not caught_up(current) and time.monotonic() - ended < catch_up_limit:
            time.sleep(0.1)
            try:
                current = gauges()
            except Exception:  # busy: read again
                continue
        catch_up = time.monotonic() - ended
    thread_names = names()
    start_t = first.t
    stored = last.gauges.get("stored", 0.0) - first.gauges.get("stored", 0.0)
    accepted = last.gauges.get("accepted", 0.0) - first.gauges.get("accepted", 0.0)
    cpu = {label: cpu_by_component(first, last, label, thread_names) for label in processes}
    per_request = {
        f"{label}: {component}": round(used / max(load.answered, 1) * 1e6, 1)
        for label, components in cpu.items()
        for component, used in components.items()
    }
    per_event = {
        f"{label}: {component}": round(used / max(stored, 1) * 1e6, 2)
        for label, components in cpu.items()
        for component, used in components.items()
    }
    loadgen_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    samples = sampler.samples
    backlog = [
        (round(s.t - start_t, 1), s.gauges[backlog_key]) for s in samples if backlog_key in s.gauges
    ]
    rss = {
        label: [(round(s.t - start_t, 1), round(s.rss.get(label, 0) / 2**20, 1)) for s in samples]
        for label in processes
    }
    lines = _probe_lines(probe_dir)
    windows = []
    for window in load.windows:
        lo, hi = window.start_s, window.start_s + window.seconds
        inside = [s for s in samples if lo <= s.t - start_t <= hi + 0.5]
        stored_in = (
            (inside[-1].gauges.get("stored", 0) - inside[0].gauges.get("stored", 0))
            / max(inside[-1].t - inside[0].t, 1e-9)
            if len(inside) > 1
            else 0.0
        )
        report = WindowReport(
            start_s=window.start_s,
            requests_per_second=window.requests_per_second,
            p50_ms=window.p50_ms,
            p99_ms=window.p99_ms,
            p999_ms=window.p999_ms,
            max_ms=window.max_ms,
            stored_per_second=round(stored_in, 1),
            backlog_end=inside[-1].gauges.get(backlog_key, 0.0) if inside else 0.0,
            rss_mb_max=round(max((sum(s.rss.values()) for s in inside), default=0) / 2**20, 1),
        )
        if len(inside) > 1:
            used: dict[str, float] = {}
            for label in processes:
                for component, spent in cpu_by_component(
                    inside[0], inside[-1], label, thread_names
                ).items():
                    key = component if len(processes) == 1 else f"{label}: {component}"
                    used[key] = used.get(key, 0.0) + spent
            span = max(inside[-1].t - inside[0].t, 1e-9)
            report.cores = {k: round(v / span, 2) for k, v in used.items() if v / span >= 0.01}
            machine = (inside[-1].machine - inside[0].machine) / span
            report.machine_cores = round(machine, 2)
            report.other_cores = round(max(machine - sum(used.values()) / span, 0.0), 2)
        in_probe = [p for p in lines if load_wall + lo <= p["t"] < load_wall + hi]
        if in_probe:
            before = [p for p in lines if p["t"] < load_wall + lo]
            base = before[-1] if before else in_probe[0]
            report.loop_lag_max_ms = max(p["lag_max_ms"] for p in in_probe)
            report.gc_ms = round(
                (sum(in_probe[-1]["gc_seconds"]) - sum(base["gc_seconds"])) * 1000, 1
            )
            slow = [g[2] for p in in_probe for g in p["gc_slow"]]
            report.gc_slowest_ms = max(slow, default=0.0)
            report.fsync_max_ms = max((p.get("fsync", [0, 0, 0])[2] for p in in_probe), default=0)
            calls = [c for p in in_probe for c in p.get("calls", [])]
            report.insert_max_ms = max((c[2] for c in calls if c[0] == "insert"), default=0.0)
            settles = [c[2] for c in calls if c[0] == "settle"]
            report.settle_ms = max(settles) if settles else None
            with_chdb = [p for p in [base, *in_probe] if (p.get("chdb") or {}).get("events")]
            if len(with_chdb) > 1:
                report.merges_started = _event(with_chdb[-1], "Merge") - _event(
                    with_chdb[0], "Merge"
                )
                report.merged_rows = _event(with_chdb[-1], "MergedRows") - _event(
                    with_chdb[0], "MergedRows"
                )
                report.merged_mb = round(
                    (
                        _event(with_chdb[-1], "MergedUncompressedBytes")
                        - _event(with_chdb[0], "MergedUncompressedBytes")
                    )
                    / 2**20,
                    1,
                )
                report.merge_ms = _event(with_chdb[-1], "MergeTotalMilliseconds") - _event(
                    with_chdb[0], "MergeTotalMilliseconds"
                )
                report.parts_end = sum(with_chdb[-1]["chdb"]["parts"].values())
        windows.append(report)
    probe: dict[str, Any] = {}
    if lines:
        during = [p for p in lines if load_wall <= p["t"] < load_wall + seconds]
        if during:
            probe["gc_count_by_generation"] = [
                b - a for a, b in zip(during[0]["gc_count"], during[-1]["gc_count"], strict=True)
            ]
            probe["gc_ms_by_generation"] = [
                round((b - a) * 1000, 1)
                for a, b in zip(during[0]["gc_seconds"], during[-1]["gc_seconds"], strict=True)
            ]
            slow = [g for p in during for g in p["gc_slow"]]
            probe["slow_collections"] = slow[:200]
            probe["slowest_collection_by_generation"] = {
                str(gen): {
                    "count_over_5ms": len(of),
                    "wall_ms": max(g[2] for g in of),
                    "cpu_ms": max((g[4] for g in of if len(g) > 4), default=None),
                }
                for gen in (0, 1, 2)
                if (of := [g for g in slow if g[1] == gen])
            }
            probe["loop_lag_max_ms"] = max(p["lag_max_ms"] for p in during)
        if probe_dir is not None:
            dumps = sorted((probe_dir / "stalls").glob("*.txt"))
            probe["stall_dumps"] = [str(p) for p in dumps]
            probe["stalls"] = [stall_summary(p) for p in dumps]
    span = max(last.t - first.t, 1e-9)
    other = (last.machine - first.machine - sum(sum(c.values()) for c in cpu.values())) / span
    return PhaseReport(
        other_cores=round(max(other, 0.0), 2),
        name=name,
        load=load,
        events_per_request=events_per_request,
        accepted_events=accepted,
        stored_events=stored,
        accepted_events_per_second=round(accepted / seconds, 1),
        stored_events_per_second=round(stored / seconds, 1),
        catch_up_seconds=round(catch_up, 2),
        backlog_unit=backlog_unit,
        backlog=backlog,
        rss_mb=rss,
        cpu_seconds={k: {c: round(v, 3) for c, v in d.items()} for k, d in cpu.items()},
        cpu_us_per_request=per_request,
        cpu_us_per_stored_event=per_event,
        loadgen_cpu_us_per_request=round(loadgen_cpu / max(load.sent, 1) * 1e6, 1),
        windows=windows,
        probe=probe,
    )
