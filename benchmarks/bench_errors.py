"""What an error storm costs: one failing request in-process, and healthy requests beside a storm.

Run: ``uv run python -m benchmarks.bench_errors`` (``--quick`` for a short run). Needs ``wrk``
(Debian package) for the second part; all traffic stays on 127.0.0.1.

Every app here has ``GET /fail``, an async handler raising ``RuntimeError("boom")`` (the same
error every time: after the first, each failure is a repeat of the same kind), and ``GET /ok``
and ``GET /ok2``, which succeed with a small JSON object. Sentry, where it is on, reports to a
local sink: a threaded HTTP server on 127.0.0.1 that answers every envelope 200 ``{}`` and counts
the envelopes and the error events in them.

1. One failing request, in-process (the ASGI app called directly, as in ``bench_asgi``).
   Variants: ``bare`` (plain FastAPI: Starlette's default 500, after which its
   ServerErrorMiddleware re-raises; the driver catches that and still counts the response),
   ``sentry-sdk`` (plain FastAPI with ``sentry_sdk.init(dsn=…, traces_sample_rate=None)`` and
   sentry-sdk's default integrations, its FastAPI/Starlette ones auto-enabled),
   ``toolkit`` (``setup_monitoring`` configured as in production: access log under a temp
   LOG_DIR, alerts on a SQLite store, no Sentry) and ``toolkit+sentry`` (the same with SENTRY_DSN
   set, traces off). ``sentry_sdk.init`` is process-wide, so each variant lives in its own child
   process, which builds the app, starts its lifespan and warms up on failing requests; the
   parent then asks the children in turn for batches, starting with a different one each round.
   Reported, as medians over rounds: wall-clock µs per failing request, the child's CPU µs per
   failing request (all its threads, including sending the batch's queued Sentry events once
   the batch is over), the ratio to ``sentry-sdk``, and the events that reached the sink.
2. Healthy requests beside an error storm, over HTTP. ``toolkit+sentry`` under uvicorn (one
   worker). Each round, ``wrk -t1 -c1 --latency`` loads ``/ok`` while a second ``wrk`` with 8
   connections loads either ``/fail`` (the storm) or ``/ok2`` (the same traffic without errors,
   the baseline); rounds alternate between the two. Reported: the medians over rounds of the
   healthy requests' p50 and p99, the second ``wrk``'s rate, and p99 storm / p99 baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from benchmarks.bench_asgi import Lifespan, _read, http_scope
from benchmarks.bench_http import _RPS, _free_port, _wait_ready
from benchmarks.bench_scrape import Latency, wrk_latency
from benchmarks.variants import Built, monitored

__all__ = [
    "FAILING_VARIANTS",
    "Failing",
    "Sink",
    "Storm",
    "measure_failing",
    "measure_storm",
    "print_failing",
    "print_storm",
]

FAILING_VARIANTS = ("bare", "sentry-sdk", "toolkit", "toolkit+sentry")
SENTRY_VARIANTS = ("sentry-sdk", "toolkit+sentry")
STORM_CONNECTIONS = 8
_TAG = "@@"  # child output lines meant for the parent, as in bench_asgi
Message = dict[str, Any]


# -- the Sentry sink ---------------------------------------------------------------------------
class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real Sentry ingest answers

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sink = self.server
        assert isinstance(sink, Sink)
        sink.count(body, self.headers.get("Content-Encoding"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: Any) -> None:
        return None


def _is_error_event(body: bytes, encoding: str | None) -> bool:
    """Whether an envelope's first item is an error event (not a client report, say)."""
    with contextlib.suppress(OSError, EOFError):
        body = gzip.decompress(body) if encoding == "gzip" else body
    lines = body.split(b"\n", 2)
    try:
        item = json.loads(lines[1]) if len(lines) > 1 else None
    except ValueError:
        return False
    return isinstance(item, dict) and item.get("type") == "event"


class Sink(ThreadingHTTPServer):
    """A stand-in for Sentry on a free loopback port: every POST gets 200 ``{}``.

    Use as a context manager: it serves from a thread in between.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.envelopes = 0
        self.events = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server_port}/1"

    def count(self, body: bytes, encoding: str | None) -> None:
        event = _is_error_event(body, encoding)
        with self._lock:
            self.envelopes += 1
            self.events += int(event)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up before its answer (a server being stopped) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(10)


# -- the apps ----------------------------------------------------------------------------------
def base_app() -> FastAPI:
    """``GET /fail`` raising the same error every time, ``GET /ok`` and ``GET /ok2``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def fail() -> dict[str, bool]:
        raise RuntimeError("boom")

    async def ok() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route("/fail", fail, methods=["GET"], name="fail")
    app.add_api_route("/ok", ok, methods=["GET"], name="ok")
    app.add_api_route("/ok2", ok, methods=["GET"], name="ok2")
    return app


def _toolkit(workdir: Path, dsn: str | None) -> Built:
    """As ``variants``' full variant: production settings, log files and alerts in ``workdir``."""
    return monitored(base_app(), workdir, dsn=dsn)


def _sentry_sdk(dsn: str) -> Built:
    import sentry_sdk

    sentry_sdk.init(dsn=dsn, traces_sample_rate=None)
    client = sentry_sdk.get_client()
    if not {"fastapi", "starlette"} <= set(client.integrations):
        msg = f"sentry-sdk's FastAPI integration is off: {sorted(client.integrations)}"
        raise RuntimeError(msg)
    return Built(base_app(), client.close)


def build(variant: str, workdir: Path, dsn: str) -> Built:
    """One variant; ``dsn`` is where the Sentry variants report."""
    if variant == "bare":
        return Built(base_app())
    if variant == "sentry-sdk":
        return _sentry_sdk(dsn)
    if variant in ("toolkit", "toolkit+sentry"):
        return _toolkit(workdir, dsn if variant == "toolkit+sentry" else None)
    msg = f"unknown variant {variant!r}; expected one of {', '.join(FAILING_VARIANTS)}"
    raise ValueError(msg)


# -- part 1: one failing request, in-process ------------------------------------------------------
async def drive(app: Any, path: str, n: int) -> list[int]:
    """``n`` requests for ``path`` as uvicorn would make them; returns the statuses sent.

    An exception raised once the response has gone out (Starlette's ServerErrorMiddleware
    sends its 500, then re-raises for the server to log) is caught; one raised before any
    response propagates.
    """
    template = http_scope(path)
    request: Message = {"type": "http.request", "body": b"", "more_body": False}
    never = asyncio.get_running_loop().create_future()  # a live client: no disconnect
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(n):
        delivered, answered = False, len(statuses)

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return request
            await never  # uvicorn waits for the disconnect once the body is read
            return {"type": "http.disconnect"}

        scope = dict(template)
        scope["state"] = {}
        try:
            await app(scope, receive, send)
        except RuntimeError:
            if len(statuses) == answered:
                raise
    return statuses


def _flush_sentry() -> None:
    """Send what Sentry has queued (its CPU then counts in the batch's)."""
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout=10)


async def _child(variant: str, workdir: Path, dsn: str, warmup: int) -> None:
    """Serve batches on request: read a count on stdin, answer ``@@ wall cpu answered``."""
    built = build(variant, workdir, dsn)
    life = Lifespan(built.app)
    await life.start()
    try:
        if await drive(built.app, "/ok", 1) != [200]:
            msg = f"{variant}: GET /ok did not answer 200"
            raise RuntimeError(msg)
        await drive(built.app, "/fail", warmup)  # imports, caches, the first of its kind
        _flush_sentry()
        print(_TAG, "ready", flush=True)
        loop = asyncio.get_running_loop()
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            n = int(line)
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            statuses = await drive(built.app, "/fail", n)
            wall = time.perf_counter() - wall
            _flush_sentry()
            cpu = time.process_time() - cpu
            print(_TAG, wall / n * 1e6, cpu / n * 1e6, statuses.count(500), flush=True)
    finally:
        await life.stop()
        built.close()


@dataclass(frozen=True)
class Failing:
    """µs per failing request (medians over rounds); Sentry events at the sink, of ``sent``."""

    wall: float
    cpu: float
    sent: int
    events: int | None


def _spawn(variant: str, workdir: Path, dsn: str, warmup: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "benchmarks.bench_errors", "--child", variant]
    argv += ["--workdir", str(workdir), "--dsn", dsn, "--warmup", str(warmup)]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _batch(proc: subprocess.Popen[str], n: int) -> tuple[float, float]:
    """One batch of ``n`` failing requests in a child: (wall µs, CPU µs) per request."""
    assert proc.stdin is not None
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    wall, cpu, answered = _read(proc)
    if int(answered) != n:
        msg = f"{answered} of {n} failing requests were answered 500"
        raise RuntimeError(msg)
    return float(wall), float(cpu)


def _stop(procs: dict[str, subprocess.Popen[str]]) -> None:
    for proc in procs.values():
        if proc.stdin is not None:
            proc.stdin.close()  # EOF: the child shuts its app down and exits
    for proc in procs.values():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_failing(quick: bool = False) -> dict[str, Failing]:
    """Median µs per failing request for each variant, in interleaved rounds."""
    rounds, batch, warmup = (5, 20, 20) if quick else (15, 20, 50)
    variants = FAILING_VARIANTS
    walls: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="ykmake-bench-errors-") as tmp:
        with contextlib.ExitStack() as stack:
            sinks = {v: stack.enter_context(Sink()) for v in SENTRY_VARIANTS}
            procs: dict[str, subprocess.Popen[str]] = {}
            try:
                for v in variants:
                    dsn = sinks[v].dsn if v in sinks else ""
                    procs[v] = _spawn(v, Path(tmp) / v, dsn, warmup)
                for proc in procs.values():
                    _read(proc)  # "ready"
                for i in range(rounds):
                    for v in variants[i % len(variants) :] + variants[: i % len(variants)]:
                        time.sleep(0.05)  # let the previous child's background threads settle
                        wall, cpu = _batch(procs[v], batch)
                        walls[v].append(wall)
                        cpus[v].append(cpu)
            finally:
                _stop(procs)  # each child flushes Sentry on shutdown: the sinks see it all
        events = {v: sink.events for v, sink in sinks.items()}
    sent = warmup + rounds * batch
    return {
        v: Failing(statistics.median(walls[v]), statistics.median(cpus[v]), sent, events.get(v))
        for v in variants
    }


def print_failing(results: dict[str, Failing], out: Callable[[str], Any]) -> None:
    """A markdown table: µs per failing request, and the ratio to sentry-sdk's."""
    ref = results["sentry-sdk"]
    out(
        "| variant | µs per failing request | / sentry-sdk | CPU µs | / sentry-sdk "
        "| Sentry events |"
    )
    out("|---|---:|---:|---:|---:|---:|")
    for v, r in results.items():
        events = "–" if r.events is None else f"{r.events} of {r.sent}"
        out(
            f"| {v} | {r.wall:.1f} | {r.wall / ref.wall:.2f} | {r.cpu:.1f} | "
            f"{r.cpu / ref.cpu:.2f} | {events} |"
        )


# -- part 2: healthy requests beside an error storm, over HTTP ---------------------------------
@dataclass(frozen=True)
class Storm:
    """Healthy requests (ms, medians over rounds) beside the storm and beside the baseline,
    and the second wrk's requests/s in each."""

    storm: Latency
    baseline: Latency
    storm_rps: float
    baseline_rps: float
    events: int

    @property
    def p99_ratio(self) -> float:
        """Healthy p99 beside the storm / beside the same traffic without errors."""
        return self.storm.p99 / self.baseline.p99


def _serve(port: int, workdir: Path, dsn: str) -> None:
    import uvicorn

    built = build("toolkit+sentry", workdir, dsn)
    try:
        uvicorn.run(built.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        built.close()


def _beside(base: str, path: str, seconds: float) -> tuple[Latency, float]:
    """``/ok`` latency on one connection while a second wrk loads ``path``; and its rate."""
    argv = ["wrk", "-t1", f"-c{STORM_CONNECTIONS}", f"-d{seconds + 1:g}s", base + path]
    load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(0.5)  # the load is on before the measured requests start
        latency = wrk_latency(base + "/ok", seconds, connections=1)
        output, _ = load.communicate(timeout=seconds + 30)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    rate = _RPS.search(output)
    if rate is None or ("Non-2xx" in output) != (path == "/fail"):
        msg = f"unexpected wrk output for {path}:\n{output}"
        raise RuntimeError(msg)
    return latency, float(rate.group(1))


def measure_storm(quick: bool = False) -> Storm:
    """Healthy latency beside an error storm and beside the same traffic without errors."""
    if shutil.which("wrk") is None:
        msg = "wrk is not on PATH (Debian package wrk)"
        raise RuntimeError(msg)
    pairs, seconds = (2, 2.0) if quick else (5, 4.0)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    runs: dict[str, list[tuple[Latency, float]]] = {"/fail": [], "/ok2": []}
    with tempfile.TemporaryDirectory(prefix="ykmake-bench-storm-") as tmp, Sink() as sink:
        argv = [sys.executable, "-m", "benchmarks.bench_errors", "--serve", "--port", str(port)]
        argv += ["--workdir", tmp, "--dsn", sink.dsn]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(base + "/ok", proc)
            _beside(base, "/fail", 1.0)  # warm-up: the first error of its kind, the caches
            _beside(base, "/ok2", 1.0)
            for i in range(pairs):
                for path in ("/fail", "/ok2") if i % 2 == 0 else ("/ok2", "/fail"):
                    runs[path].append(_beside(base, path, seconds))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        events = sink.events
    return Storm(
        _median([r[0] for r in runs["/fail"]]),
        _median([r[0] for r in runs["/ok2"]]),
        statistics.median(r[1] for r in runs["/fail"]),
        statistics.median(r[1] for r in runs["/ok2"]),
        events,
    )


def _median(runs: list[Latency]) -> Latency:
    return Latency(
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        statistics.median(r.max for r in runs),
    )


def print_storm(result: Storm, out: Callable[[str], Any]) -> None:
    """A markdown table: healthy latency beside the storm and beside the baseline."""
    s, b = result.storm, result.baseline
    out(
        "GET /ok on one connection (wrk -t1 -c1 --latency) while a second wrk loads another "
        f"route on {STORM_CONNECTIONS} connections; medians over rounds."
    )
    out("")
    out(f"| {STORM_CONNECTIONS} connections on | /ok p50 ms | /ok p99 ms | their requests/s |")
    out("|---|---:|---:|---:|")
    out(f"| GET /fail (the storm) | {s.p50:.2f} | {s.p99:.2f} | {result.storm_rps:,.0f} |")
    out(f"| GET /ok2 (no errors) | {b.p50:.2f} | {b.p99:.2f} | {result.baseline_rps:,.0f} |")
    out(f"| storm / no errors | {s.p50 / b.p50:.2f} | {result.p99_ratio:.2f} | |")
    out("")
    out(f"Sentry events at the sink during the run: {result.events:,}.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short rounds, for a smoke run")
    parser.add_argument("--child", choices=FAILING_VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dsn", default="", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=50, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(_child(args.child, args.workdir, args.dsn, args.warmup))
        return
    if args.serve:
        _serve(args.port, args.workdir, args.dsn)
        return
    print("## One failing request, in-process (µs; medians of interleaved rounds)")
    print("")
    print_failing(measure_failing(args.quick), print)
    print("")
    print("## Healthy requests beside an error storm (uvicorn, one worker; wrk)")
    print("")
    print_storm(measure_storm(args.quick), print)


if __name__ == "__main__":
    main()
