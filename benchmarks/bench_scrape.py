"""How long a /metrics scrape holds up the requests in flight beside it.

Run: ``uv run python -m benchmarks.bench_scrape`` (``--quick`` for a short run). Needs
``wrk`` on PATH; loopback only.

The full variant runs under uvicorn (one worker) with its registry filled to about
``--samples`` samples (HTTP series of many routes, as a busy service has). Requests are
loaded with ``wrk --latency`` twice per round: alone, and while a second ``wrk`` scrapes
/metrics back to back on one connection (far harsher than Prometheus' one scrape every
15 s: every request overlaps a scrape). The scrape renders in a worker thread, so it can only
hold requests up through the GIL. Reported: request latency p50/p99/max alone and under
scrapes (medians over rounds), the added p99 and max, and the scrape's own duration.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_http import _free_port, _wait_ready
from benchmarks.variants import build, target_path
from ykmake.monitoring.metrics.http import LocalHttpFamilies

__all__ = ["Latency", "measure_scrape_stall", "print_scrape_stall", "render_vs_upstream"]

TOKEN = "bench-token"  # the full variant's METRICS_TOKEN
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_MAX = re.compile(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", re.MULTILINE)
SAMPLES_PER_SERIES = 17  # _total, _created; 12 buckets, _count, _sum, _created


@dataclass(frozen=True)
class Latency:
    """Milliseconds."""

    p50: float
    p99: float
    max: float


def _fill(app: Any, samples: int) -> None:
    """Give the registry about ``samples`` samples of HTTP series, with values in them."""
    series = app.state.monitoring.metrics.http
    assert isinstance(series, LocalHttpFamilies)  # one process: the lock-free series
    statuses = ("200", "201", "400", "404", "500")
    for i in range(samples // SAMPLES_PER_SERIES):
        one = series.series("GET", f"/api/v1/resource{i // 5}/{{item_id}}", statuses[i % 5])
        one.values[0] += i + 1
        one.values[1] += (i % 97) / 100
        one.values[2 + i % 12] += i + 1


def _serve(port: int, samples: int, workdir: Path) -> None:
    import uvicorn

    built = build("full", 1, workdir)
    _fill(built.app, samples)
    try:
        uvicorn.run(built.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        built.close()


def render_vs_upstream(samples: int = 10_000, rounds: int = 9) -> tuple[float, float]:
    """Median ms of one steady scrape of the app's own registry: (ours, generate_latest)."""
    from prometheus_client import generate_latest

    from ykmake.monitoring.metrics.exposition import render

    with tempfile.TemporaryDirectory(prefix="ykmake-bench-render-") as tmp:
        built = build("full", 1, Path(tmp))
        try:
            _fill(built.app, samples)
            metrics = built.app.state.monitoring.metrics
            ours: list[float] = []
            theirs: list[float] = []
            render(metrics.registry, const_labels=metrics.const_labels)  # warm the prefix cache
            for _ in range(rounds):
                start = time.perf_counter()
                render(metrics.registry, const_labels=metrics.const_labels)
                ours.append((time.perf_counter() - start) * 1e3)
                start = time.perf_counter()
                generate_latest(metrics.registry)
                theirs.append((time.perf_counter() - start) * 1e3)
        finally:
            built.close()
    return statistics.median(ours), statistics.median(theirs)


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def wrk_latency(url: str, seconds: float, connections: int = 4) -> Latency:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30)
    found = {p: _ms(v, u) for p, v, u in _PERCENTILE.findall(out.stdout)}
    top = _MAX.search(out.stdout)
    if len(found) != 2 or top is None:
        msg = f"unexpected wrk output:\n{out.stdout}"
        raise RuntimeError(msg)
    return Latency(found["50"], found["99"], _ms(*top.groups()))


class Scraper:
    """Scrapes /metrics back to back on one connection until stopped; times each scrape."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.durations: list[float] = []
        self.size = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                response = client.get(self.url)
                self.durations.append((time.perf_counter() - start) * 1e3)
                self.size = len(response.content)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def measure_scrape_stall(
    samples: int = 10_000, *, quick: bool = False
) -> tuple[Latency, Latency, float, int]:
    """(requests alone, requests under scrapes, median scrape ms, scrape bytes)."""
    if shutil.which("wrk") is None:
        msg = "wrk is not on PATH (Debian package wrk)"
        raise RuntimeError(msg)
    rounds, seconds = (1, 2.0) if quick else (5, 4.0)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ykmake-bench-scrape-") as tmp:
        argv = [sys.executable, "-m", "benchmarks.bench_scrape", "--serve", "--port", str(port)]
        argv += ["--samples", str(samples), "--workdir", tmp]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = base + target_path(1)
            _wait_ready(url, proc)
            wrk_latency(url, 1.0)  # warm-up: requests, then scrapes (the prefix cache fills
            with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                for _ in range(20):  # on the first, as it does once in a process's life)
                    client.get(base + "/metrics").raise_for_status()
            alone: list[Latency] = []
            loaded: list[Latency] = []
            scrapes: list[float] = []
            size = 0
            for _ in range(rounds):
                alone.append(wrk_latency(url, seconds))
                with Scraper(base + "/metrics") as scraper:
                    loaded.append(wrk_latency(url, seconds))
                scrapes += scraper.durations
                size = scraper.size
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return _median(alone), _median(loaded), statistics.median(scrapes), size


def _median(runs: list[Latency]) -> Latency:
    return Latency(
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        statistics.median(r.max for r in runs),
    )


def print_scrape_stall(
    result: tuple[Latency, Latency, float, int], samples: int, out: Callable[[str], Any]
) -> None:
    alone, loaded, scrape_ms, size = result
    out(f"Registry: about {samples:,} samples, {size:,} bytes; a scrape takes {scrape_ms:.1f} ms.")
    out("")
    out("| requests | p50 ms | p99 ms | max ms |")
    out("|---|---:|---:|---:|")
    out(f"| alone | {alone.p50:.2f} | {alone.p99:.2f} | {alone.max:.2f} |")
    out(f"| during back-to-back scrapes | {loaded.p50:.2f} | {loaded.p99:.2f} | {loaded.max:.2f} |")
    out(
        f"| added by the scrapes | {loaded.p50 - alone.p50:+.2f} | {loaded.p99 - alone.p99:+.2f} "
        f"| {loaded.max - alone.max:+.2f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short round, for a smoke run")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.port, args.samples, args.workdir)
        return
    result = measure_scrape_stall(args.samples, quick=args.quick)
    print_scrape_stall(result, args.samples, print)


if __name__ == "__main__":
    main()
