"""`python -m app.bench.probe OUTDIR [--stall-ms N] [--census S] -- <beacon command …>`:
a Beacon command run with bench-only instruments inside its process, for finding what
stalls it.

Nothing in Beacon itself changes; this wrapper adds, before running `app.cli.main`:
- garbage collections timed through `gc.callbacks` (count and seconds per generation;
  every collection over 5 ms with its wall time and its thread's CPU time);
- the event loop's lag: a thread posts a callback to uvicorn's loop (caught by wrapping
  `uvloop.new_event_loop`) every 50 ms and measures how late it runs; past
  `--stall-ms` it writes a `py-spy dump --nonblocking` of the process (not paused by
  it) *while* the loop is stuck (`stalls/`, at most one per 2 s, 40 in all);
- every 2 s, from the process's own embedded chdb (the engine is in-process, and chdb
  has no `part_log` or `metric_log`): `system.events` counters, running merges
  (`system.merges`), active parts per table;
- the native thread id → Python thread name map (`threads.json`), so `/proc` CPU can be
  told apart by Python thread;
- with `--census S`, every S seconds the 15 most common types among the objects the
  garbage collector tracks (`census.jsonl`; it walks every object holding the GIL, so it
  stalls the loop itself: use it to explain collections, not while timing);
- timers around `os.fdatasync` (the spool's group commit), `Store.insert_json_rows`
  (each insert into chdb, views included) and `Runtime.close_finished_sessions` (the
  settling run every 2 minutes), wrapped by attribute, the code unchanged.

Output, in OUTDIR: `probe.jsonl` (one line per second: loop lag, collections; chdb
figures every other line), `threads.json`, `stalls/*.txt`. The instruments cost one
thread waking 20 times a second and a few small system-table queries.
Limits: a stall that holds the GIL (a long collection, a long pure-Python step) keeps
the lag thread from running, so it is seen afterwards (its lag and the collection's
time are recorded) but not dumped while it happens.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

_SLOW_GC_S = 0.005
_TICK_S = 0.05


class Probe:
    def __init__(self, out: Path, stall_ms: float, census_s: float = 0.0) -> None:
        self.out = out
        self.census_s = census_s
        self.next_census = time.time() + census_s
        self.stall_s = stall_ms / 1000
        (out / "stalls").mkdir(parents=True, exist_ok=True)
        self.loop: Any = None
        self.gc_started = 0.0
        self.gc_cpu_started = 0.0
        self.gc_count = [0, 0, 0]
        self.gc_seconds = [0.0, 0.0, 0.0]
        self.gc_slow: list[tuple[float, int, float, int, float]] = []
        self.lag_max = 0.0
        self.dumps = 0
        self.last_dump = 0.0
        self.py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.file = open(out / "probe.jsonl", "a", buffering=1)  # noqa: SIM115 - process-long
        self.fsync = [0, 0.0, 0.0]  # count, seconds, slowest, since the last line
        self.calls: list[tuple[str, float, float]] = []  # (what, wall start, ms)
        self._lock = threading.Lock()

    # -- timers ------------------------------------------------------------------------
    def wrap_timers(self) -> None:
        original_fdatasync = os.fdatasync

        def fdatasync(fd: int) -> None:
            began = time.perf_counter()
            try:
                original_fdatasync(fd)
            finally:
                took = time.perf_counter() - began
                with self._lock:
                    self.fsync[0] += 1
                    self.fsync[1] += took
                    self.fsync[2] = max(self.fsync[2], took)

        os.fdatasync = fdatasync  # type: ignore[assignment]
        from app.runtime import Runtime
        from app.store.client import Store

        self._time_method(Runtime, "close_finished_sessions", "settle")
        self._time_method(Store, "insert_json_rows", "insert")

    def _time_method(self, owner: type, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, began = time.time(), time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = round((time.perf_counter() - began) * 1000, 1)
                with self._lock:
                    self.calls.append((label, round(wall, 3), took))

        setattr(owner, name, timed)

    # -- collections -------------------------------------------------------------------
    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter()
            self.gc_cpu_started = time.thread_time()
            return
        took = time.perf_counter() - self.gc_started
        generation = info["generation"]
        self.gc_count[generation] += 1
        self.gc_seconds[generation] += took
        if took >= _SLOW_GC_S:
            # Wall and the collecting thread's own CPU: far apart, the process waited for
            # a core (a busy machine), not for the collection.
            cpu = round((time.thread_time() - self.gc_cpu_started) * 1000, 2)
            self.gc_slow.append(
                (time.time(), generation, round(took * 1000, 2), info["collected"], cpu)
            )

    # -- the event loop ----------------------------------------------------------------
    def wrap_uvloop(self) -> None:
        import uvloop

        original = uvloop.new_event_loop

        def new_event_loop() -> Any:
            self.loop = original()
            return self.loop

        uvloop.new_event_loop = new_event_loop

    def watch(self) -> None:
        """Lag ticks every 50 ms, a line per second, chdb figures every 2 s."""
        second = int(time.time())
        while True:
            lag = self._lag()
            self.lag_max = max(self.lag_max, lag)
            now = int(time.time())
            if now != second:
                self._line(second, with_chdb=second % 2 == 0)
                second = now
            time.sleep(_TICK_S)

    def _lag(self) -> float:
        loop = self.loop
        if loop is None or loop.is_closed():
            return 0.0
        ran = threading.Event()
        posted = time.perf_counter()
        try:
            loop.call_soon_threadsafe(ran.set)
        except RuntimeError:  # the loop closed meanwhile
            return 0.0
        if not ran.wait(self.stall_s):
            self._dump(time.perf_counter() - posted)
            ran.wait(30)
        return time.perf_counter() - posted

    def _dump(self, waited: float) -> None:
        now = time.time()
        if self.dumps >= 40 or now - self.last_dump < 2:
            return
        self.dumps += 1
        self.last_dump = now
        target = self.out / "stalls" / f"stall-{now:.3f}.txt"
        with open(target, "w") as handle:
            handle.write(f"# loop callback waiting {waited * 1000:.0f} ms at {now:.3f}\n")
            handle.flush()
            subprocess.run(
                [self.py_spy, "dump", "--pid", str(os.getpid()), "--nonblocking"],
                stdout=handle, stderr=subprocess.STDOUT, timeout=30, check=False,
            )  # fmt: skip

    # -- output ------------------------------------------------------------------------
    def _line(self, second: int, *, with_chdb: bool) -> None:
        line: dict[str, Any] = {
            "t": second,
            "lag_max_ms": round(self.lag_max * 1000, 1),
            "gc_count": list(self.gc_count),
            "gc_seconds": [round(s, 4) for s in self.gc_seconds],
            "gc_slow": self.gc_slow,
        }
        self.gc_slow = []
        with self._lock:
            count, seconds, slowest = self.fsync
            line["fsync"] = [count, round(seconds * 1000, 1), round(slowest * 1000, 1)]
            line["calls"] = self.calls
            self.fsync, self.calls = [0, 0.0, 0.0], []
        self.lag_max = 0.0
        threads = {t.native_id: t.name for t in threading.enumerate()}
        (self.out / "threads.json").write_text(json.dumps(threads))
        if with_chdb:
            line["chdb"] = _chdb_figures()
        self.file.write(json.dumps(line) + "\n")
        if self.census_s and time.time() >= self.next_census:
            self.next_census = time.time() + self.census_s
            self._census()

    def _census(self) -> None:
        began = time.perf_counter()
        counts: dict[str, int] = {}
        for item in gc.get_objects():
            name = type(item).__qualname__
            counts[name] = counts.get(name, 0) + 1
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:15]
        record = {
            "t": time.time(),
            "tracked": sum(counts.values()),
            "top": top,
            "took_ms": round((time.perf_counter() - began) * 1000, 1),
        }
        with open(self.out / "census.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")


def _chdb_figures() -> dict[str, Any] | None:
    from app.store import client as store_client

    clients = list(store_client._embedded_clients.values())
    if not clients:
        return None
    client = clients[0]
    try:
        events = dict(client.query("SELECT event, value FROM system.events").result_rows)
        merges = client.query(
            "SELECT table, round(elapsed, 2), round(progress, 3), num_parts, rows_read, "
            "total_size_bytes_compressed, merge_type FROM system.merges"
        ).result_rows
        parts = dict(
            client.query(
                "SELECT table, count() FROM system.parts WHERE active GROUP BY table"
            ).result_rows
        )
    except Exception as exc:  # the store is closing: say so in the line
        return {"error": str(exc)[:200]}
    return {"events": events, "merges": [list(m) for m in merges], "parts": parts}


def main(argv: list[str]) -> int:
    if len(argv) < 3 or "--" not in argv:
        print("usage: python -m app.bench.probe OUTDIR [--stall-ms N] [--census S] -- <args>")
        return 2
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1 :]
    stall_ms = float(own[own.index("--stall-ms") + 1]) if "--stall-ms" in own else 150.0
    census_s = float(own[own.index("--census") + 1]) if "--census" in own else 0.0
    probe = Probe(Path(own[0]), stall_ms, census_s)
    gc.callbacks.append(probe.on_gc)
    probe.wrap_uvloop()
    probe.wrap_timers()
    threading.Thread(target=probe.watch, name="beacon-probe", daemon=True).start()
    from app.cli import main as beacon

    return beacon(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
