"""Requests/s over HTTP: each variant under uvicorn on 127.0.0.1, loaded by ``wrk``.

Run: ``uv run python -m benchmarks.bench_http`` (``--quick`` for a short run). Needs ``wrk``
(Debian package ``wrk``) on PATH; loopback only, bounded (one thread, 16 connections, a few
seconds per run).

Every variant runs in its own uvicorn process (one worker, uvloop + httptools as uvicorn
picks by default, no uvicorn access log: the full variant writes its own). All servers are
started first and stay up (three per variant: identical processes differ by up to ~10% in
speed); each round then loads each server in turn, starting with a different one each round.
Reported: the median requests/s and its ratio to the bare app's, and the median CPU the
server process spent per request (from /proc, so load from other processes on the machine
barely moves it) with the same ratio taken from it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.variants import VARIANTS, build, target_path

__all__ = ["HttpResult", "measure_http", "print_http"]

_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_DONE = re.compile(r"(\d+) requests in")


def _serve(variant: str, routes: int, port: int, workdir: Path) -> None:
    import uvicorn

    built = build(variant, routes, workdir)
    try:
        uvicorn.run(built.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        built.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    timeout: float = 60.0,
    ready: Callable[[], bool] | None = None,
    poll: float = 0.1,
) -> None:
    """Until ``ready()`` (by default: GET ``url`` answers 200), failing if ``proc`` exits."""
    if ready is None:
        ready = lambda: httpx.get(url, timeout=2).status_code == 200  # noqa: E731
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"server for {url} exited with {proc.returncode}"
            raise RuntimeError(msg)
        try:
            if ready():
                return
        except (httpx.TransportError, OSError):
            pass
        time.sleep(poll)
    msg = f"server for {url} not ready within {timeout}s"
    raise RuntimeError(msg)


@dataclass(frozen=True)
class HttpResult:
    """Medians over runs: requests/s, and the server process's CPU µs per request."""

    rps: float
    cpu: float


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: float, connections: int = 16) -> tuple[float, int]:
    """Requests/s and requests done in one bounded ``wrk`` run against a loopback URL."""
    if not url.startswith("http://127.0.0.1:"):
        msg = f"wrk is only pointed at loopback here, not {url}"
        raise ValueError(msg)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30)
    rps, done = _RPS.search(out.stdout), _DONE.search(out.stdout)
    if rps is None or done is None:
        msg = f"unexpected wrk output:\n{out.stdout}"
        raise RuntimeError(msg)
    return float(rps.group(1)), int(done.group(1))


def measure_http(
    routes: int = 1, *, quick: bool = False, variants: tuple[str, ...] = VARIANTS
) -> dict[str, HttpResult]:
    """Median requests/s and CPU per request for each variant.

    Identical server processes differ by up to ~10% in speed (memory layout, hash seeds), so
    each variant runs as several servers and its runs are pooled across them.
    """
    if shutil.which("wrk") is None:
        msg = "wrk is not on PATH (Debian package wrk)"
        raise RuntimeError(msg)
    rounds, seconds, processes = (1, 2.0, 1) if quick else (3, 3.0, 3)
    children = [(v, k) for k in range(processes) for v in variants]
    servers: dict[tuple[str, int], tuple[subprocess.Popen[bytes], str]] = {}
    rps: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="ykmake-bench-http-") as tmp:
        try:
            for v, k in children:
                port = _free_port()
                argv = [sys.executable, "-m", "benchmarks.bench_http", "--serve", v]
                argv += ["--routes", str(routes), "--port", str(port)]
                argv += ["--workdir", f"{tmp}/{v}-{k}"]
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                servers[(v, k)] = (proc, f"http://127.0.0.1:{port}{target_path(routes)}")
            for proc, url in servers.values():
                _wait_ready(url, proc)
                wrk(url, 1.0)  # warm-up
            for i in range(rounds):
                order = children[i % len(children) :] + children[: i % len(children)]
                for child in order:
                    proc, url = servers[child]
                    before = _cpu_seconds(proc.pid)
                    per_second, done = wrk(url, seconds)
                    rps[child[0]].append(per_second)
                    cpu[child[0]].append((_cpu_seconds(proc.pid) - before) / done * 1e6)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
            for proc, _ in servers.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    return {v: HttpResult(statistics.median(rps[v]), statistics.median(cpu[v])) for v in variants}


def print_http(results: dict[str, HttpResult], out: Callable[[str], Any]) -> None:
    bare = results["bare"]
    out("| variant | requests/s | ratio to bare | server CPU µs/request | bare CPU / this CPU |")
    out("|---|---:|---:|---:|---:|")
    for v, r in results.items():
        kept_rps, kept_cpu = r.rps / bare.rps, bare.cpu / r.cpu
        out(f"| {v} | {r.rps:,.0f} | {kept_rps:.0%} | {r.cpu:.0f} | {kept_cpu:.0%} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short round, for a smoke run")
    parser.add_argument("--routes", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.routes, args.port, args.workdir)
        return
    print_http(measure_http(args.routes, quick=args.quick, variants=tuple(args.variants)), print)


if __name__ == "__main__":
    main()
