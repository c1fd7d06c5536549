"""Instructions per request, counted by valgrind: the in-process cost without the noise.

Run: ``uv run python -m benchmarks.bench_instructions`` (``--quick`` for fewer requests).
Needs ``valgrind`` (Debian package ``valgrind``), whose callgrind tool counts the machine
instructions a process executes.

Timings on a shared machine move by 10–40% from one run to the next (neighbours, frequency,
memory layout); instruction counts do not, so they show whether a change made the
per-request work smaller even when the timings cannot tell. They are not time: an
instruction that misses the CPU's caches costs many that hit, and code that touches more
memory per request is slower per instruction. The goals are judged on time (`bench_asgi`,
`bench_http`); this is the steady view of the same in-process requests.

Every variant runs in its own process under callgrind with counting off, is built, has its
lifespan started and serves a warm-up; then counting is switched on (``callgrind_control``)
for a fixed number of requests, driven exactly as ``bench_asgi`` drives them, and off again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.bench_asgi import Lifespan, drive
from benchmarks.variants import VARIANTS, build, target_path

__all__ = [
    "counting",
    "measure_instructions",
    "print_instructions",
    "require_valgrind",
    "two_at_a_time",
]

_TOTALS = re.compile(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", re.MULTILINE)
_TOOLS = ("valgrind", "callgrind_control", "callgrind_annotate")
T = TypeVar("T")


def require_valgrind() -> None:
    """Raise RuntimeError naming valgrind's tools that are not on PATH."""
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        msg = f"{', '.join(missing)} not on PATH (Debian package valgrind)"
        raise RuntimeError(msg)


def two_at_a_time(
    variants: tuple[str, ...], prefix: str, count: Callable[[str, Path], T]
) -> dict[str, T]:
    """``count(variant, temp dir)`` for every variant, each a valgrind process, two at a
    time (one per core), after checking that valgrind is there."""
    require_valgrind()
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        counts = pool.map(lambda v: count(v, Path(tmp)), variants)
        return dict(zip(variants, counts, strict=True))


def counting(on: bool, pid: int | None = None) -> None:
    """Switch callgrind's counting for a process under it (this very one by default)."""
    argv = ["callgrind_control", "-i", "on" if on else "off", str(pid or os.getpid())]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


async def _child(variant: str, routes: int, workdir: Path, requests: int) -> None:
    built = build(variant, routes, workdir)
    life = Lifespan(built.app)
    await life.start()
    path = target_path(routes)
    try:
        await drive(built.app, path, 500)  # imports, caches, label children
        counting(True)
        await drive(built.app, path, requests)
        counting(False)
    finally:
        await life.stop()
        built.close()


def _count(variant: str, routes: int, requests: int, tmp: Path) -> float:
    out = tmp / f"{variant}-{routes}.callgrind"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    argv += [sys.executable, "-m", "benchmarks.bench_instructions", "--child", variant]
    argv += ["--routes", str(routes), "--requests", str(requests)]
    argv += ["--workdir", str(tmp / f"{variant}-{routes}")]
    # A fixed hash seed: identical processes then do identical work.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(argv, check=True, capture_output=True, env=env, timeout=1800)
    report = subprocess.run(
        ["callgrind_annotate", str(out)], check=True, capture_output=True, text=True
    ).stdout
    totals = _TOTALS.search(report)
    if totals is None:
        msg = f"no totals in callgrind_annotate's report for {variant}"
        raise RuntimeError(msg)
    return int(totals.group(1).replace(",", "")) / requests


def measure_instructions(
    routes: int, *, quick: bool = False, variants: tuple[str, ...] = VARIANTS
) -> dict[str, float]:
    """Instructions per request for each variant, with ``routes`` routes (two at a time)."""
    requests = 300 if quick else 1000
    return two_at_a_time(
        variants, "ykmake-bench-instr-", lambda v, tmp: _count(v, routes, requests, tmp)
    )


def print_instructions(results: dict[int, dict[str, float]], out: Callable[[str], Any]) -> None:
    """A markdown table: instructions per request and the overhead over bare."""
    counts = sorted(results)
    head = " | ".join(f"{n} route{'s' if n > 1 else ''} | +over bare" for n in counts)
    out(f"| variant | {head} |")
    out("|---|" + "---:|---:|" * len(counts))
    for v in results[counts[0]]:
        cells = [
            f"{results[n][v] / 1000:,.1f}k | {(results[n][v] - results[n]['bare']) / 1000:+,.1f}k"
            for n in counts
        ]
        out(f"| {v} | {' | '.join(cells)} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--routes", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(_child(args.child, args.routes[0], args.workdir, args.requests))
        return
    variants = tuple(args.variants)
    results = {n: measure_instructions(n, quick=args.quick, variants=variants) for n in args.routes}
    print_instructions(results, print)


if __name__ == "__main__":
    main()
