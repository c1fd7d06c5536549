"""Per-request cost in-process: the ASGI app called directly, no server, no sockets.

Run: ``uv run python -m benchmarks.bench_asgi`` (``--quick`` for a short run).

Each variant of `benchmarks.variants` lives in its own child process (so one variant's
background threads, the log writer for instance, never run during another's batch), is
built, has its lifespan started, and is then driven with the same realistic GET scope.
The parent interleaves the children: every round asks each one for a batch, starting with
a different one each round, so drift on a shared machine hits them alike. Reported: the
median over rounds of wall-clock µs per request and of the child's CPU µs per request (all
its threads; on a busy machine the CPU figure is the steadier one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.variants import VARIANTS, build, target_path

__all__ = ["Result", "http_scope", "measure_in_process", "print_in_process"]

Message = dict[str, Any]
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) bench/1.0"),
    (b"accept", b"application/json"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
]
_TAG = "@@"  # child output lines meant for the parent (anything else is ignored)


@dataclass(frozen=True)
class Result:
    """Over rounds, µs per request: medians, and the best round's wall time."""

    wall: float
    cpu: float
    best: float


def http_scope(path: str) -> dict[str, Any]:
    """What uvicorn hands an app for ``GET path`` on a keep-alive connection."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51234),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": HEADERS,
        "state": {},
    }


class Lifespan:
    """Runs an app's lifespan startup now and its shutdown on ``stop``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.started = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: Message) -> None:
        if message["type"].startswith("lifespan.startup"):
            self.started.set()

    async def start(self) -> None:
        await self.inbox.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self._send))
        await self.started.wait()

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        if self.task is not None:
            await self.task


async def drive(app: Any, path: str, n: int) -> None:
    """``n`` requests, each with a fresh scope and a receive that behaves like uvicorn's."""
    template = http_scope(path)
    request: Message = {"type": "http.request", "body": b"", "more_body": False}
    never = asyncio.get_running_loop().create_future()  # a live client: no disconnect

    async def send(_message: Message) -> None:
        return None

    for _ in range(n):
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return request
            await never  # uvicorn waits for the disconnect once the body is read
            return {"type": "http.disconnect"}

        scope = dict(template)
        scope["state"] = {}
        await app(scope, receive, send)


async def _child(variant: str, routes: int, workdir: Path, warmup: int) -> None:
    """Serve batches on request: read a count on stdin, answer ``@@ wall cpu``."""
    built = build(variant, routes, workdir)
    life = Lifespan(built.app)
    await life.start()
    path = target_path(routes)
    await drive(built.app, path, warmup)  # imports, caches, label children
    print(_TAG, "ready", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            n = int(line)
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            await drive(built.app, path, n)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(_TAG, wall / n * 1e6, cpu / n * 1e6, flush=True)
    finally:
        await life.stop()
        built.close()


def _read(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(_TAG):
            return line.split()[1:]
    msg = f"benchmark child exited with {proc.wait()}"
    raise RuntimeError(msg)


def _spawn(variant: str, routes: int, workdir: Path, warmup: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "benchmarks.bench_asgi", "--child", variant]
    argv += ["--routes", str(routes), "--workdir", str(workdir), "--warmup", str(warmup)]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def measure_in_process(
    routes: int, *, quick: bool = False, variants: tuple[str, ...] = VARIANTS
) -> dict[str, Result]:
    """Median µs per request for each variant, with ``routes`` routes.

    Identical processes differ by up to ~10% in speed (memory layout, hash seeds), so each
    variant runs in several child processes and its rounds are pooled across them.
    """
    rounds, batch, processes = (6, 400, 1) if quick else (20, 400, 3)
    children = [(v, k) for k in range(processes) for v in variants]
    with tempfile.TemporaryDirectory(prefix="ykmake-bench-") as tmp:
        procs = {
            c: _spawn(c[0], routes, Path(tmp) / f"{c[0]}-{c[1]}", batch // 2) for c in children
        }
        try:
            for proc in procs.values():
                _read(proc)  # "ready"
            walls: dict[str, list[float]] = {v: [] for v in variants}
            cpus: dict[str, list[float]] = {v: [] for v in variants}
            for i in range(rounds):
                order = children[i % len(children) :] + children[: i % len(children)]
                for child in order:
                    proc = procs[child]
                    assert proc.stdin is not None
                    time.sleep(0.02)  # let the previous child's log writer settle
                    proc.stdin.write(f"{batch}\n")
                    proc.stdin.flush()
                    wall, cpu = _read(proc)
                    walls[child[0]].append(float(wall))
                    cpus[child[0]].append(float(cpu))
        finally:
            for proc in procs.values():
                if proc.stdin is not None:
                    proc.stdin.close()  # EOF: the child shuts its app down and exits
            for proc in procs.values():
                proc.wait(timeout=30)
    return {
        v: Result(statistics.median(walls[v]), statistics.median(cpus[v]), min(walls[v]))
        for v in variants
    }


def print_in_process(results: dict[int, dict[str, Result]], out: Callable[[str], Any]) -> None:
    """A markdown table: µs per request and overhead over bare, per route count."""
    counts = sorted(results)
    head = " | ".join(
        f"{n} route{'s' if n > 1 else ''}: µs | +µs | CPU +µs | best +µs" for n in counts
    )
    out(f"| variant | {head} |")
    out("|---|" + "---:|---:|---:|---:|" * len(counts))
    for v in results[counts[0]]:
        cells = []
        for n in counts:
            r, bare = results[n][v], results[n]["bare"]
            cells.append(
                f"{r.wall:.1f} | {r.wall - bare.wall:+.1f} | {r.cpu - bare.cpu:+.1f} | "
                f"{r.best - bare.best:+.1f}"
            )
        out(f"| {v} | {' | '.join(cells)} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    parser.add_argument("--routes", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=500, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(_child(args.child, args.routes[0], args.workdir, args.warmup))
        return
    results = {
        n: measure_in_process(n, quick=args.quick, variants=tuple(args.variants))
        for n in args.routes
    }
    print_in_process(results, print)


if __name__ == "__main__":
    main()
