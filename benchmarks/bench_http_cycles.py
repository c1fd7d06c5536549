"""Instructions and estimated cycles per request over HTTP: uvicorn itself under callgrind.

Run: ``uv run python -m benchmarks.bench_http_cycles`` (``--quick`` for fewer requests).
Needs ``valgrind`` (Debian package ``valgrind``).

`bench_http`'s requests/s move by a few points from one run to the next on a shared
2-core machine, as much as the differences it is meant to show. This is the same server
(``bench_http --serve``: the variant under uvicorn with uvloop and httptools), run under
callgrind with its cache simulation: counting is switched on (``callgrind_control``) for a
fixed number of keep-alive requests after a warm-up, so what is counted is everything the
server process does per request, uvicorn's parsing and writing included, every thread
included. Estimated cycles weigh each first-level cache miss as 10 instructions and each
last-level miss as 100 (callgrind's cycle estimate without branch simulation): a rough
model, but one that repeats to the request, so "bare / this" is the steady view of the
share of bare's requests/s a variant can keep.

Under callgrind a server runs ~50× slower while clocks run as usual: work done by the clock
(the log writer's 50 ms poll, the outbox's and gauges' timers) is counted over ~50× fewer
requests than in a real server, so the figures of variants that have such work read a
little high.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.bench_http import _wait_ready
from benchmarks.bench_instructions import counting, two_at_a_time
from benchmarks.variants import target_path

__all__ = ["Cycles", "measure_http_cycles", "print_http_cycles"]

VARIANTS = ("bare", "full", "full-nolog", "handmade", "instrumentator")
# callgrind_annotate's totals line with --cache-sim=yes:
# Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
_TOTALS = re.compile(r"^(.*)PROGRAM TOTALS", re.MULTILINE)
_NUMBER = re.compile(r"([\d,]+) \(")
_CONNECTIONS = 4


@dataclass(frozen=True)
class Cycles:
    """Per request: instructions, first-level cache misses, estimated cycles."""

    instructions: float
    l1_misses: float
    cycles: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _read_response(sock: socket.socket, pending: bytes) -> bytes:
    """Read one whole HTTP/1.1 response (Content-Length framed); returns what follows it."""
    buf = pending
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            msg = "server closed the connection"
            raise ConnectionError(msg)
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        msg = f"unexpected response: {head[:80]!r}"
        raise RuntimeError(msg)
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    size = int(length.group(1)) if length else 0
    while len(rest) < size:
        chunk = sock.recv(65536)
        if not chunk:
            msg = "server closed the connection"
            raise ConnectionError(msg)
        rest += chunk
    return rest[size:]


def _load(port: int, path: str, requests: int, connections: int = _CONNECTIONS) -> None:
    """``requests`` GETs over a few keep-alive connections, one in flight on each."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=300) for _ in range(connections)]
    pending = [b""] * len(socks)
    try:
        for _ in range(-(-requests // len(socks))):
            for sock in socks:
                sock.sendall(request)
            for i, sock in enumerate(socks):
                pending[i] = _read_response(sock, pending[i])
    finally:
        for sock in socks:
            sock.close()


def _answers(port: int, path: str) -> bool:
    """One request on one connection (raises OSError while the server is not listening)."""
    _load(port, path, 1, connections=1)
    return True


def _count(variant: str, requests: int, tmp: Path) -> Cycles:
    port, path = _free_port(), target_path(1)
    out = tmp / f"{variant}.callgrind"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes"]
    argv += [f"--callgrind-out-file={out}", sys.executable, "-m", "benchmarks.bench_http"]
    argv += ["--serve", variant, "--port", str(port), "--workdir", str(tmp / variant)]
    # A fixed hash seed: identical processes then do identical work.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _wait_ready(
            f"http://127.0.0.1:{port}{path}", proc, 900, lambda: _answers(port, path), poll=0.5
        )
        _load(port, path, 400)  # warm-up: imports, caches, label children
        counting(True, proc.pid)
        _load(port, path, requests)
        counting(False, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=60)
    report = subprocess.run(
        ["callgrind_annotate", str(out)], check=True, capture_output=True, text=True
    ).stdout
    totals = _TOTALS.search(report)
    counts = [int(n.replace(",", "")) for n in _NUMBER.findall(totals.group(1))] if totals else []
    if len(counts) != 9:
        msg = f"no cache-simulation totals in callgrind_annotate's report for {variant}"
        raise RuntimeError(msg)
    ir, _, _, i1, d1r, d1w, ll_i, ll_r, ll_w = (c / requests for c in counts)
    l1 = i1 + d1r + d1w
    return Cycles(ir, l1, ir + 10 * l1 + 100 * (ll_i + ll_r + ll_w))


def measure_http_cycles(
    *, quick: bool = False, variants: tuple[str, ...] = VARIANTS
) -> dict[str, Cycles]:
    """Per-request counts for each variant (two servers at a time), 1 route."""
    requests = 400 if quick else 2000
    return two_at_a_time(variants, "ykmake-bench-cycles-", lambda v, tmp: _count(v, requests, tmp))


def print_http_cycles(results: dict[str, Cycles], out: Callable[[str], Any]) -> None:
    bare = results["bare"]
    out("| variant | instructions | L1 misses | est. cycles | + over bare | bare / this |")
    out("|---|---:|---:|---:|---:|---:|")
    for v, r in results.items():
        out(
            f"| {v} | {r.instructions / 1000:,.1f}k | {r.l1_misses:,.0f} | "
            f"{r.cycles / 1000:,.1f}k | {(r.cycles - bare.cycles) / 1000:+,.1f}k | "
            f"{bare.cycles / r.cycles:.0%} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args(argv)
    variants = tuple(dict.fromkeys(["bare", *args.variants]))
    print_http_cycles(measure_http_cycles(quick=args.quick, variants=variants), print)


if __name__ == "__main__":
    main()
