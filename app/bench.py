"""`beacon bench`: the ingest benchmark anyone can re-run on loopback.

In one run, on this machine:
1. a bare ASGI app that only reads the body and decodes it with msgspec — the ceiling
   of Python on this machine for the same requests — and
2. Beacon itself (one uvicorn worker, uvloop + httptools, embedded chdb, spool fsync
   on, as `beacon serve` runs it),
each loaded by `wrk` (Debian package `wrk`) with the same 10-event batches at the same
concurrency for the same time. It reports req/s, events/s, latency p50/p99, the ratio of
the two, and for Beacon whether storage kept up: the spool backlog sampled during the
run, and how long after the load stopped every accepted event was in ClickHouse.

Traffic goes to 127.0.0.1 only; each phase is bounded by `--seconds` and stops itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

from app.ingest.schema import decode_batch

__all__ = ["bare_app", "make_bodies", "run_bench"]

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling: read the body, decode and validate it, answer 202."""
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    batch = decode_batch(b"".join(chunks))
    body = b'{"accepted":%d}' % len(batch.events)
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def make_bodies(site: str, count: int, events: int, seed: int = 7) -> list[bytes]:
    """`count` distinct protocol-v1 batches of `events` events each."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    pages = [f"/docs/{i}" for i in range(40)] + ["/", "/pricing", "/blog/post-1?utm_source=hn"]
    bodies = []
    for _ in range(count):
        pid = uuid.uuid4().hex[:16]
        ts = now - rng.randrange(60_000)
        page = rng.choice(pages)
        evs: list[dict[str, Any]] = [
            {
                "t": "pageview",
                "ts": ts,
                "pid": pid,
                "url": f"https://bench.test{page}",
                "ref": rng.choice(["", "https://www.google.com/", "https://news.ycombinator.com/"]),
                "title": "Bench page",
                "vw": 1280,
                "vh": 720,
                "lang": "en-US",
            },
            {
                "t": "vital",
                "ts": ts + 900,
                "pid": pid,
                "name": "LCP",
                "value": rng.lognormvariate(7.5, 0.5),
                "target": "main>img.hero",
                "attr": {"element": "main>img.hero"},
            },
            {
                "t": "vital",
                "ts": ts + 300,
                "pid": pid,
                "name": "FCP",
                "value": rng.lognormvariate(7, 0.5),
            },
            {
                "t": "vital",
                "ts": ts + 100,
                "pid": pid,
                "name": "TTFB",
                "value": rng.lognormvariate(5.5, 0.6),
            },
            {
                "t": "vital",
                "ts": ts + 5000,
                "pid": pid,
                "name": "CLS",
                "value": round(rng.random() * 0.2, 4),
            },
            {
                "t": "vital",
                "ts": ts + 5000,
                "pid": pid,
                "name": "INP",
                "value": 8 * rng.randrange(5, 60),
                "target": "button#buy",
                "attr": {"type": "pointer"},
            },
            {
                "t": "timing",
                "ts": ts + 1200,
                "pid": pid,
                "dns": 3,
                "tcp": 10,
                "tls": 14,
                "req": 60,
                "res": 12,
                "dom": 400,
                "load": 1100,
                "transfer": 48213,
            },
            {"t": "click", "ts": ts + 2000, "pid": pid, "target": "nav>a.docs", "text": "Docs"},
            {"t": "scroll", "ts": ts + 3000, "pid": pid, "depth": rng.randrange(101)},
            {
                "t": "engagement",
                "ts": ts + 6000,
                "pid": pid,
                "engaged_ms": rng.randrange(500, 60_000),
                "scroll": 60,
            },
        ]
        while len(evs) < events:
            evs.append(
                {
                    "t": "custom",
                    "ts": ts + 4000,
                    "pid": pid,
                    "name": "signup",
                    "props": {"plan": "pro"},
                }
            )
        bodies.append(
            json.dumps(
                {"site": site, "sid": uuid.uuid4().hex[:20], "sent_at": now, "events": evs[:events]}
            ).encode()
        )
    return bodies


# Requests are formatted once, when wrk loads the script, so that wrk spends as little CPU
# per request as it can: on 2 cores the load generator shares the machine with the server,
# and a cheaper generator raises the bare app's ceiling most (it is closest to wrk's limit).
_LUA = r"""
local agents = %(agents)s
local requests = {}
local i = 0
for line in io.lines("%(bodies)s") do
  i = i + 1
  requests[i] = wrk.format("POST", "/api/event", {
    ["Content-Type"] = "text/plain",
    ["User-Agent"] = agents[i %% #agents + 1],
    ["X-Forwarded-For"] = "81.2." .. (i %% 200) .. "." .. (i %% 250 + 1),
    ["Origin"] = "https://bench.test",
  }, line)
end
local counter = 0
request = function()
  counter = counter + 1
  return requests[counter %% #requests + 1]
end
"""


class WrkResult(msgspec.Struct):
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, seconds: float, concurrency: int) -> WrkResult:
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{int(seconds)}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return WrkResult(
        rps, p50, p99, total, int(non_2xx[1]) if non_2xx else 0, errors[0] if errors else ""
    )


def _metrics(base: str) -> dict[str, float]:
    text = httpx.get(base + "/metrics", timeout=10).text
    values = {}
    for name in (
        "beacon_events_accepted_total",
        "beacon_rows_inserted_total",
        "beacon_spool_backlog_bytes",
    ):
        match = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
        values[name] = float(match[1]) if match else 0.0
    for step, seconds in re.findall(
        r'^beacon_pipeline_step_seconds_total\{step="(\w+)"\} ([\d.e+-]+)$', text, re.M
    ):
        values[f"step:{step}"] = float(seconds)
    return values


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each thread of `pid`, summed by name.

    The main thread (the event loop) is reported as "main"; other threads by their
    kernel name (Python's own threads all show the interpreter's name, "python").
    """
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        # After the ")" that closes comm, utime and stime are the 12th and 13th fields.
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_per_request_us(
    before: dict[str, float], after: dict[str, float], requests: int
) -> dict[str, float]:
    """Microseconds of CPU per request for each thread name, busiest first."""
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    return {
        name: round(seconds / max(requests, 1) * 1e6, 1)
        for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
        if seconds > 0
    }


def _serve(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start; see {log}")


def _start_profiler(pid: int, seconds: float, output: str) -> subprocess.Popen[bytes]:
    """py-spy on the Beacon process for the measured phase (raw collapsed stacks)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [py_spy, "record", "-p", str(pid), "-d", str(max(1, int(seconds) - 1)), "-r", "200",
         "-f", "raw", "-o", output, "--threads", "--nonblocking"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def run_bench(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("beacon bench needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    seconds, concurrency = args.seconds, args.concurrency
    results: dict[str, Any] = {
        "seconds": seconds,
        "concurrency": concurrency,
        "events_per_request": args.events,
    }
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "BEACON_DATA_DIR": str(work / "data"),
            "BEACON_CLIENT_IP_HEADER": "X-Forwarded-For",
            "BEACON_LOG_LEVEL": "WARNING",
        }
        # Register the site first (no server running yet: the CLI opens the store).
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "site",
                "add",
                "bench.test",
                "--origin",
                "https://bench.test",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        site = json.loads(added.stdout)["site"]
        bodies = make_bodies(site, 2000, args.events)
        (work / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")
        script = work / "load.lua"
        agents = "{" + ", ".join(json.dumps(a) for a in USER_AGENTS) + "}"
        script.write_text(_LUA % {"bodies": work / "bodies.txt", "agents": agents})

        # 1. The bare decode-only ceiling.
        port = free_port()
        bare = _serve(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.bench:bare_app",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            port,
            work / "bare.log",
        )
        try:
            run_wrk(f"http://127.0.0.1:{port}", script, 2, concurrency)  # warm-up
            cpu_before = thread_cpu_seconds(bare.pid)
            bare_run = run_wrk(f"http://127.0.0.1:{port}", script, seconds, concurrency)
            results["bare"] = {
                **msgspec.to_builtins(bare_run),
                "cpu_us_per_request": cpu_per_request_us(
                    cpu_before, thread_cpu_seconds(bare.pid), bare_run.requests
                ),
            }
        finally:
            bare.terminate()
            bare.wait(30)

        # 2. Beacon.
        port = free_port()
        env["BEACON_PORT"] = str(port)
        base = f"http://127.0.0.1:{port}"
        beacon = _serve([sys.executable, "-m", "app", "serve"], env, port, work / "beacon.log")
        try:
            run_wrk(base, script, 2, concurrency)  # warm-up
            samples: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(1.0):
                    samples.append(_metrics(base)["beacon_spool_backlog_bytes"])

            before = _metrics(base)
            sampler = threading.Thread(target=sample)
            sampler.start()
            profiler = _start_profiler(beacon.pid, seconds, args.profile) if args.profile else None
            cpu_before = thread_cpu_seconds(beacon.pid)
            loaded = run_wrk(base, script, seconds, concurrency)
            cpu = cpu_per_request_us(cpu_before, thread_cpu_seconds(beacon.pid), loaded.requests)
            if profiler is not None:
                profiler.wait(60)
            stop.set()
            sampler.join()
            ended = time.monotonic()
            after = _metrics(base)
            while after["beacon_rows_inserted_total"] < after["beacon_events_accepted_total"]:
                if time.monotonic() - ended > 60:
                    break
                time.sleep(0.05)
                after = _metrics(base)
            lag = time.monotonic() - ended
            stored = after["beacon_rows_inserted_total"] - before["beacon_rows_inserted_total"]
            results["beacon"] = {
                **msgspec.to_builtins(loaded),
                "events_per_second": loaded.requests_per_second * args.events,
                "stored_events": stored,
                "stored_events_per_second": stored / seconds,
                "all_stored_seconds_after_load": round(lag, 3),
                "spool_backlog_bytes_samples": samples,
                "cpu_us_per_request": cpu,
                "pipeline_us_per_request": {
                    key.removeprefix("step:"): round(
                        (after[key] - before.get(key, 0.0)) / max(loaded.requests, 1) * 1e6, 1
                    )
                    for key in after
                    if key.startswith("step:")
                },
            }
        finally:
            beacon.terminate()
            beacon.wait(60)
    bare_rps = results["bare"]["requests_per_second"]
    results["ratio_beacon_to_bare"] = round(results["beacon"]["requests_per_second"] / bare_rps, 3)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        b, x = results["bare"], results["beacon"]
        print(f"{'':28}{'req/s':>10}{'events/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
        print(
            f"{'bare msgspec decode app':28}{b['requests_per_second']:>10.0f}"
            f"{b['requests_per_second'] * args.events:>12.0f}{b['p50_ms']:>9.2f}"
            f"{b['p99_ms']:>9.2f}{b['non_2xx']:>9}"
        )
        print(
            f"{'beacon ingest':28}{x['requests_per_second']:>10.0f}"
            f"{x['events_per_second']:>12.0f}{x['p50_ms']:>9.2f}{x['p99_ms']:>9.2f}"
            f"{x['non_2xx']:>9}"
        )
        print(f"beacon / bare: {results['ratio_beacon_to_bare']:.3f}")
        for label, phase in (("bare", b), ("beacon", x)):
            shares = ", ".join(f"{k} {v:.0f}" for k, v in phase["cpu_us_per_request"].items())
            print(f"CPU µs per request, {label}, by thread: {shares}")
        steps = ", ".join(f"{k} {v:.0f}" for k, v in x["pipeline_us_per_request"].items())
        print(f"pipeline step µs per request (wall, in the event loop): {steps}")
        print(
            f"stored {x['stored_events']:.0f} events ({x['stored_events_per_second']:.0f}/s); "
            f"all stored {x['all_stored_seconds_after_load']} s after the load stopped"
        )
        print(
            "spool backlog bytes, sampled each second: "
            + " ".join(f"{v:.0f}" for v in x["spool_backlog_bytes_samples"])
        )
    return 0
