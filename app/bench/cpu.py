"""CPU and memory of the processes under test, read from `/proc` while they run.

Every second the sampler reads, for each watched process (and its child processes),
each thread's CPU time (user + system, `/proc/<pid>/task/<tid>/stat`) and the process's
resident memory (`VmRSS`), plus any extra gauges the caller adds (the spool backlog, a
stream's length). CPU per component is the difference of two samples, summed over the
threads of that component (and the whole machine's busy time from `/proc/stat`, so that
what other processes took from a shared machine shows beside it):

- `event loop`: the main thread of a Beacon process (uvicorn's loop: HTTP, pipeline,
  row encoding, spool hand-off, answers);
- Python threads by their Python name when the server runs under `app.bench.probe`
  (which writes the native-id → name map): `spool I/O` (write + fdatasync), `batcher`
  (reads the spool and calls chdb: the insert's parsing and the materialized views run
  *in this thread*, so they are one figure), `query threads` (anyio workers), `probe`;
- chdb's own threads by their kernel name: `chdb merges` (MergeMutate), `chdb pool`
  (ThreadPool: insert and query pipeline helpers), `chdb background` (schedule pools,
  moves, fetches, memory and jemalloc workers).

Limits: a thread that ends between two samples takes its last second with it; Linux
accounts CPU in clock ticks (10 ms), so per-second figures of quiet threads are coarse.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

__all__ = ["Sample", "Sampler", "classify", "cpu_by_component", "descendants", "read_threads"]

_TICK = os.sysconf("SC_CLK_TCK")

#: chdb (ClickHouse) thread names, by the kernel's 15-character `comm`.
_CHDB = {
    "MergeMutate": "chdb merges",
    "ThreadPool": "chdb pool",
    "QueryPipelineEx": "chdb pool",
    "QueryPullPipeEx": "chdb pool",
    "BgSchPool": "chdb background",
    "BgStrmSchPool": "chdb background",
    "BgBufSchPool": "chdb background",
    "BgDistSchPool": "chdb background",
    "BgMBSchPool": "chdb background",
    "PoolDelayExec": "chdb background",
    "Move": "chdb background",
    "Fetch": "chdb background",
    "Common": "chdb background",
    "MemoryWorker": "chdb background",
    "jemalloc_bg_thd": "chdb background",
}
#: Python thread names (from the probe's map) by prefix.
_PYTHON = (
    ("spool-io", "spool I/O"),
    ("beacon-batcher", "batcher (+ chdb insert, views)"),
    ("beacon-writer", "writer (+ chdb insert, views)"),
    ("AnyIO worker", "query threads"),
    ("beacon-probe", "probe"),
)


def read_threads(pid: int) -> dict[int, tuple[str, float]]:
    """tid → (kernel thread name, CPU seconds so far) for every thread of `pid`."""
    threads: dict[int, tuple[str, float]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return threads
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # After ") ", utime and stime are the 12th and 13th fields (state is the 1st).
        threads[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / _TICK)
    return threads


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, `/proc/stat`)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's worker processes, say)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def classify(pid: int, tid: int, comm: str, names: Mapping[int, str]) -> str:
    """The component a thread belongs to (see the module docstring)."""
    if tid == pid:
        return "event loop" if comm.startswith(("beacon", "python", "uvicorn")) else comm
    name = names.get(tid)
    if name is not None:
        for prefix, component in _PYTHON:
            if name.startswith(prefix):
                return component
        return "other Python threads"
    if comm in _CHDB:
        return _CHDB[comm]
    if comm.startswith(("beacon", "python")):
        return "other Python threads"
    return "other threads"


class Sample(msgspec.Struct):
    """One reading: seconds since the sampler started, per process label."""

    t: float
    rss: dict[str, int]
    cpu: dict[str, dict[int, tuple[str, float]]]  # label → tid → (comm, seconds)
    pids: dict[str, dict[int, int]]  # label → tid → its process id
    gauges: dict[str, float]
    machine: float = 0.0  # busy CPU seconds of the whole machine so far


class Sampler:
    """Reads the watched processes every `interval` seconds in a thread of its own."""

    def __init__(
        self,
        processes: Mapping[str, int],
        gauges: Callable[[], Mapping[str, float]] | None = None,
        interval: float = 1.0,
        names_file: Path | None = None,
    ) -> None:
        self.processes = dict(processes)
        self.gauges = gauges
        self.interval = interval
        self.names_file = names_file
        self.samples: list[Sample] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.take()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()

    def take(self) -> Sample:
        rss: dict[str, int] = {}
        cpu: dict[str, dict[int, tuple[str, float]]] = {}
        owners: dict[str, dict[int, int]] = {}
        for label, pid in self.processes.items():
            rss[label] = 0
            cpu[label] = {}
            owners[label] = {}
            for member in descendants(pid):
                rss[label] += rss_bytes(member)
                for tid, reading in read_threads(member).items():
                    cpu[label][tid] = reading
                    owners[label][tid] = member
        gauges: dict[str, float] = {}
        if self.gauges is not None:
            try:
                gauges = dict(self.gauges())
            except Exception:  # a reading that failed once (server busy) is left out
                gauges = {}
        sample = Sample(
            time.monotonic() - self.started, rss, cpu, owners, gauges, machine_busy_seconds()
        )
        self.samples.append(sample)
        return sample

    def names(self) -> dict[int, str]:
        """Native thread id → Python thread name, as the probe last wrote them."""
        if self.names_file is None or not self.names_file.exists():
            return {}
        try:
            return {int(k): v for k, v in json.loads(self.names_file.read_text()).items()}
        except (OSError, ValueError):
            return {}


def cpu_by_component(
    first: Sample, last: Sample, label: str, names: Mapping[int, str]
) -> dict[str, float]:
    """CPU seconds each component of process `label` used between two samples."""
    spent: dict[str, float] = {}
    before = first.cpu.get(label, {})
    for tid, (comm, seconds) in last.cpu.get(label, {}).items():
        used = seconds - before.get(tid, (comm, 0.0))[1]
        if used <= 0:
            continue
        pid = last.pids[label][tid]
        component = classify(pid, tid, comm, names)
        spent[component] = spent.get(component, 0.0) + used
    return dict(sorted(spent.items(), key=lambda item: -item[1]))
