"""Every benchmark in one run, as markdown, with the goals checked from the same run.

Run: ``uv run python -m benchmarks.run`` (``--quick`` for a smoke run of a minute or so;
the full run takes about eighteen minutes). Needs ``wrk`` (Debian package) for the HTTP
parts and ``valgrind`` for the instruction and cycle counts (skipped without it).

Sections: per-request cost in-process with 1 and 50 routes (`bench_asgi`), the same
requests' instructions counted by valgrind (`bench_instructions`; skipped without valgrind),
requests/s over HTTP (`bench_http`) and the same servers' instructions and estimated cycles
per request under callgrind (`bench_http_cycles`; skipped without valgrind), request
latency beside back-to-back scrapes (`bench_scrape`), error storms (`bench_errors`: one
failing request in-process against sentry-sdk's own integration, and healthy request latency
over HTTP beside a storm of failing requests) and the /metrics exposition itself
(`bench_exposition`).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from collections.abc import Callable

from benchmarks.bench_asgi import Result, measure_in_process, print_in_process
from benchmarks.bench_errors import measure_failing, measure_storm, print_failing, print_storm
from benchmarks.bench_http import measure_http, print_http
from benchmarks.bench_http_cycles import Cycles, measure_http_cycles, print_http_cycles
from benchmarks.bench_instructions import measure_instructions, print_instructions
from benchmarks.bench_scrape import measure_scrape_stall, print_scrape_stall, render_vs_upstream

Out = Callable[[str], object]
HTTP_GOAL = 0.85  # requests/s the full instrumentation keeps of the bare app's, over HTTP


def _overhead(results: dict[str, Result], variant: str, attr: str = "wall") -> float:
    value: float = getattr(results[variant], attr) - getattr(results["bare"], attr)
    return value


def _goal(out: Out, name: str, measured: str, goal: str, met: bool) -> None:
    out(f"| {name} | {measured} | {goal} | {'met' if met else '**missed**'} |")


def machine(out: Out) -> None:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    out(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load} when the run started."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short rounds, for a smoke run")
    args = parser.parse_args(argv)
    out: Out = print

    out("# Benchmark run" + (" (quick: too short for the docs)" if args.quick else ""))
    out("")
    machine(out)
    out("")
    out("## Per request, in-process (µs; medians of interleaved rounds)")
    out("")
    asgi = {n: measure_in_process(n, quick=args.quick) for n in (1, 50)}
    print_in_process(asgi, out)
    out("")
    out("## Instructions per request, in-process (callgrind; thousands)")
    out("")
    try:
        instructions = {n: measure_instructions(n, quick=args.quick) for n in (1, 50)}
    except RuntimeError as exc:  # valgrind is optional: the timed sections stand alone
        instructions = {}
        out(f"Skipped: {exc}.")
    else:
        print_instructions(instructions, out)
    out("")
    out("## Over HTTP: uvicorn, one worker, wrk -t1 -c16")
    out("")
    http = measure_http(1, quick=args.quick)
    print_http(http, out)
    out("")
    out("## Over HTTP, counted: uvicorn under callgrind (per request)")
    out("")
    cycles: dict[str, Cycles] = {}
    try:
        cycles = measure_http_cycles(quick=args.quick)
    except RuntimeError as exc:  # valgrind is optional, as above
        out(f"Skipped: {exc}.")
    else:
        print_http_cycles(cycles, out)
    out("")
    out("## Requests beside /metrics scrapes (10k samples)")
    out("")
    stall = measure_scrape_stall(10_000, quick=args.quick)
    print_scrape_stall(stall, 10_000, out)
    ours, theirs = render_vs_upstream(10_000, rounds=3 if args.quick else 9)
    out("")
    out(
        f"The same registry rendered in-process, no requests beside it: {ours:.1f} ms, against "
        f"{theirs:.1f} ms for prometheus_client's generate_latest ({ours / theirs:.2f})."
    )
    out("")
    out("## Error storms")
    out("")
    out("One failing request, in-process (µs; medians of interleaved rounds):")
    out("")
    failing = measure_failing(args.quick)
    print_failing(failing, out)
    out("")
    out("Healthy requests beside an error storm over HTTP (toolkit with a Sentry DSN, uvicorn):")
    out("")
    storm = measure_storm(args.quick)
    print_storm(storm, out)
    out("")
    out("## Goals, from this run")
    out("")
    out("| goal | measured | target | |")
    out("|---|---:|---:|---|")
    for n in (1, 50):
        ratio = _overhead(asgi[n], "full") / _overhead(asgi[n], "instrumentator")
        cpu = _overhead(asgi[n], "full", "cpu") / _overhead(asgi[n], "instrumentator", "cpu")
        _goal(
            out,
            f"full overhead / instrumentator overhead, {n} route{'s' if n > 1 else ''}",
            f"{ratio:.2f} (CPU {cpu:.2f})",
            "≤ 0.40",
            ratio <= 0.4,
        )
    growth = _overhead(asgi[50], "full") - _overhead(asgi[1], "full")
    _goal(out, "full overhead, 50 routes minus 1 route", f"{growth:+.1f} µs", "flat", growth < 5)
    sentry = _overhead(asgi[1], "full+sentry") - _overhead(asgi[1], "full")
    _goal(
        out,
        "Sentry DSN set, traces off: added per request",
        f"{sentry:+.1f} µs",
        "≤ 10 µs",
        sentry <= 10,
    )
    keep = http["full"].rps / http["bare"].rps
    _goal(out, "requests/s kept over HTTP (full / bare)", f"{keep:.0%}", "≥ 85%", keep >= HTTP_GOAL)
    keep_cpu = http["bare"].cpu / http["full"].cpu
    _goal(
        out,
        "the same from server CPU per request (bare / full)",
        f"{keep_cpu:.0%}",
        "≥ 85%",
        keep_cpu >= HTTP_GOAL,
    )
    if cycles:
        keep_cycles = cycles["bare"].cycles / cycles["full"].cycles
        _goal(
            out,
            "the same from estimated cycles under callgrind (bare / full)",
            f"{keep_cycles:.0%}",
            "≥ 85%",
            keep_cycles >= HTTP_GOAL,
        )
    alone, loaded, _, _ = stall
    added = loaded.max - alone.max
    _goal(out, "request held up by a scrape (added max)", f"{added:.1f} ms", "≤ 10 ms", added <= 10)
    added99 = loaded.p99 - alone.p99
    _goal(
        out,
        "request held up by a scrape (added p99)",
        f"{added99:.1f} ms",
        "≤ 10 ms",
        added99 <= 10,
    )
    ratio = ours / theirs
    _goal(
        out,
        "scrape of the app's registry / generate_latest",
        f"{ratio:.2f}",
        "≤ 0.50",
        ratio <= 0.5,
    )
    errors = failing["toolkit+sentry"].wall / failing["sentry-sdk"].wall
    errors_cpu = failing["toolkit+sentry"].cpu / failing["sentry-sdk"].cpu
    _goal(
        out,
        "failing request, toolkit with DSN / sentry-sdk's own integration",
        f"{errors:.2f} (CPU {errors_cpu:.2f})",
        "≤ 0.10",
        errors <= 0.1,
    )
    _goal(
        out,
        "healthy p99 beside an error storm / without it",
        f"{storm.p99_ratio:.2f}",
        "≤ 1.5",
        storm.p99_ratio <= 1.5,
    )
    out("")
    kept = ", ".join(
        f"{v} {http[v].rps / http['bare'].rps:.0%}" for v in ("handmade", "instrumentator")
    )
    out(f"For scale, requests/s kept over HTTP in the same run: {kept}.")
    if instructions:

        def more(n: int, variant: str) -> float:
            return instructions[n][variant] - instructions[n]["bare"]

        shares = " and ".join(
            f"{more(n, 'full') / more(n, 'instrumentator'):.2f} with {n} route{'s' * (n > 1)}"
            for n in (1, 50)
        )
        out(f"In instructions per request, full adds {shares} of what the instrumentator adds.")
    out("")
    out("## /metrics exposition (benchmarks.bench_exposition)")
    out("")
    argv_exp = [sys.executable, "-m", "benchmarks.bench_exposition"] + (
        ["--quick"] if args.quick else []
    )
    out("```")
    out(subprocess.run(argv_exp, capture_output=True, text=True, check=True).stdout.rstrip())
    out("```")


if __name__ == "__main__":
    main()
