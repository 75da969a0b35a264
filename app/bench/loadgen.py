"""The load generator of the ingest benchmarks: `loadgen.c`, compiled on first use.

Why our own: Debian packages `wrk` (closed loop only: no fixed rate) and `h2load`
(`--rps`, but one body, `-d FILE`, for every request), not `wrk2`, `vegeta` or `oha`.
The tail-latency goals need a fixed rate with latencies counted from each request's due
time (a stalled server must not slow the load down and hide its own stall), over tens of
thousands of distinct bodies and headers, at ~10 µs of CPU per request (the load shares
the machine's two cores with the server). `loadgen.c` is ~360 lines of C with epoll,
built with the system compiler (`cc`, Debian `gcc`) into `~/.cache/beacon-bench/`; it
writes one record per answered request, and the percentiles are computed here
(`app/bench/stats.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from app.bench.stats import LatencySummary, summarize, windows

__all__ = ["LoadResult", "PoolRequest", "binary", "run_load", "write_pool"]

_SOURCE = Path(__file__).with_name("loadgen.c")
_RECORD = struct.Struct("<QIHH")
#: Patch kinds understood by loadgen.c.
PASS_MARK = b"@@@@@@"  # six hex digits of the pass over the pool
NOW_MARK = b"1000000000000"  # the current Unix time in ms


class PoolRequest(msgspec.Struct, frozen=True):
    """One whole HTTP/1.1 request, and where its per-pass and per-send bytes are."""

    data: bytes
    patches: tuple[tuple[int, int], ...] = ()


class LoadResult(msgspec.Struct):
    connections: int
    rate: float  # requests per second asked for; 0 = as fast as answered
    seconds: float
    sent: int
    answered: int
    unanswered: int
    errors: int
    statuses: dict[str, int]
    behind: int  # fixed rate: requests due during the load that were never sent
    passes: int
    overall: LatencySummary
    windows: list[LatencySummary]

    @property
    def requests_per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))


def binary() -> Path:
    """The compiled generator (rebuilt when loadgen.c changes)."""
    digest = hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "beacon-bench"
    target = cache / f"loadgen-{digest}"
    if target.exists():
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError(
            "beacon bench needs a C compiler for its load generator (apt-get install gcc)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    subprocess.run(
        [compiler, "-O2", "-o", str(partial), str(_SOURCE)], check=True, capture_output=True
    )
    partial.replace(target)
    return target


def format_request(
    body: bytes, headers: Iterable[tuple[str, str]], path: str = "/api/event"
) -> PoolRequest:
    """A POST with `body`; PASS_MARK and NOW_MARK occurrences become patches."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    head += f"Content-Length: {len(body)}\r\n\r\n"
    data = head.encode("latin-1") + body
    patches = [(i, 0) for i in _find_all(data, PASS_MARK)]
    patches += [(i, 1) for i in _find_all(data, NOW_MARK)]
    return PoolRequest(data, tuple(sorted(patches)))


def _find_all(data: bytes, mark: bytes) -> list[int]:
    found, at = [], data.find(mark)
    while at >= 0:
        found.append(at)
        at = data.find(mark, at + len(mark))
    return found


def write_pool(path: Path, requests: Sequence[PoolRequest]) -> None:
    with open(path, "wb") as out:
        for request in requests:
            out.write(struct.pack("<IH", len(request.data), len(request.patches)))
            for offset, kind in request.patches:
                out.write(struct.pack("<IB", offset, kind))
            out.write(request.data)


def run_load(
    port: int,
    pool: Path,
    *,
    connections: int,
    seconds: float,
    rate: float = 0.0,
    records: Path,
    window: float = 10.0,
) -> LoadResult:
    """Load 127.0.0.1:`port` for `seconds` and summarize every answer."""
    command = [str(binary()), "127.0.0.1", str(port), str(pool), str(connections),
               str(seconds), str(rate), str(records)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()}")
    totals = json.loads(done.stdout)
    samples: list[tuple[float, float]] = []
    statuses: Counter[str] = Counter()
    data = records.read_bytes()
    for due_us, latency_us, status, _ in _RECORD.iter_unpack(data):
        samples.append((due_us / 1e6, latency_us / 1000))
        statuses[str(status)] += 1
    errors = sum(totals[k] for k in totals if k.startswith("errors_"))
    return LoadResult(
        connections=connections,
        rate=rate,
        seconds=seconds,
        sent=totals["sent"],
        answered=totals["answered"],
        unanswered=totals["unanswered"],
        errors=errors,
        statuses=dict(statuses),
        behind=max(0, int(rate * seconds) - totals["sent"]) if rate else 0,
        passes=totals["passes"],
        overall=summarize([latency for _, latency in samples], 0.0, seconds),
        windows=windows(samples, seconds, window),
    )
