"""Requests/s over HTTP: each variant under uvicorn on 127.0.0.1, loaded by ``wrk``.

Run: ``uv run python -m benchmarks.bench_http`` (``--quick`` for a short run). Needs ``wrk``
(Debian package ``wrk``) on PATH; loopback only, bounded (one thread, 16 connections, a few
seconds per run).

Every variant runs in its own uvicorn process (one worker, uvloop + httptools as uvicorn
picks by default, no uvicorn access log: the full variant writes its own). All servers are
started first and stay up; each round then loads each server in turn, starting with a
different one each round. Reported: the median requests/s over rounds, and its ratio to the
bare app's median from the same run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.variants import VARIANTS, build, target_path

__all__ = ["measure_http", "print_http"]

_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")


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


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"server for {url} exited with {proc.returncode}"
            raise RuntimeError(msg)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    msg = f"server for {url} not ready within {timeout}s"
    raise RuntimeError(msg)


def wrk(url: str, seconds: float, connections: int = 16) -> float:
    """Requests/s of one bounded ``wrk`` run against a loopback URL."""
    if not url.startswith("http://127.0.0.1:"):
        msg = f"wrk is only pointed at loopback here, not {url}"
        raise ValueError(msg)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30)
    match = _RPS.search(out.stdout)
    if match is None:
        msg = f"no Requests/sec in wrk output:\n{out.stdout}"
        raise RuntimeError(msg)
    return float(match.group(1))


def measure_http(
    routes: int = 1, *, quick: bool = False, variants: tuple[str, ...] = VARIANTS
) -> dict[str, float]:
    """Median requests/s per variant."""
    if shutil.which("wrk") is None:
        msg = "wrk is not on PATH (Debian package wrk)"
        raise RuntimeError(msg)
    rounds, seconds = (1, 2.0) if quick else (5, 5.0)
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    with tempfile.TemporaryDirectory(prefix="ykmake-bench-http-") as tmp:
        try:
            for v in variants:
                port = _free_port()
                argv = [sys.executable, "-m", "benchmarks.bench_http", "--serve", v]
                argv += ["--routes", str(routes), "--port", str(port), "--workdir", f"{tmp}/{v}"]
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                servers[v] = (proc, f"http://127.0.0.1:{port}{target_path(routes)}")
            for proc, url in servers.values():
                _wait_ready(url, proc)
                wrk(url, 1.0)  # warm-up
            rps: dict[str, list[float]] = {v: [] for v in variants}
            for i in range(rounds):
                order = list(variants)
                order = order[i % len(order) :] + order[: i % len(order)]
                for v in order:
                    rps[v].append(wrk(servers[v][1], seconds))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
            for proc, _ in servers.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    return {v: statistics.median(values) for v, values in rps.items()}


def print_http(results: dict[str, float], out: Callable[[str], Any]) -> None:
    bare = results["bare"]
    out("| variant | requests/s | ratio to bare |")
    out("|---|---:|---:|")
    for v, rps in results.items():
        out(f"| {v} | {rps:,.0f} | {rps / bare:.0%} |")


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
