"""/metrics exposition: prometheus_client's generate_latest vs ykmake's render.

Run: ``uv run python -m benchmarks.bench_exposition`` (``--quick`` for a short run).

Each registry looks like a busy service's: ``http_requests_total{method,path,status_code}``
and an 11-bucket ``http_request_duration_seconds{method,path}`` histogram over many routes,
plus process, platform and GC collectors. All contenders run interleaved in every round so
drift on a shared machine hits them alike; the medians are reported. "ours" is a steady
scrape (prefix cache warm, as for every scrape but the first); "cold" clears the cache first.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.openmetrics import exposition as om_exposition

from ykmake.monitoring.metrics import _prefix_cache
from ykmake.monitoring.metrics.exposition import render

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = ("GET", "POST", "PUT", "DELETE")
STATUSES = ("200", "201", "400", "404", "500")
CONST = {"app": "ykmake"}
# Text-format samples per (method, path): 3 statuses x (_total + _created) and
# 12 buckets + _count + _sum + _created.
SAMPLES_PER_PAIR = 3 * 2 + 15

# Unannotated upstream; typed here so mypy --strict stays meaningful.
upstream_openmetrics = cast(Callable[[CollectorRegistry], bytes], om_exposition.generate_latest)


def build_registry(target_samples: int) -> CollectorRegistry:
    """A registry of about `target_samples` text-format samples."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    requests = Counter(
        "http_requests", "HTTP requests.", ["method", "path", "status_code"], registry=registry
    )
    duration = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency.",
        ["method", "path"],
        buckets=BUCKETS,
        registry=registry,
    )
    pairs = max(1, target_samples // SAMPLES_PER_PAIR)
    for i in range(pairs):
        method = METHODS[i % len(METHODS)]
        path = f"/api/v1/resource{i // len(METHODS)}/{{item_id}}"
        for j in range(3):
            requests.labels(method, path, STATUSES[(i + j) % len(STATUSES)]).inc(i % 97 + j + 1)
        for k in range(5):
            duration.labels(method, path).observe(((i * 7 + k * 13) % 1000) / 250)
    return registry


def _timed(fn: Callable[[], bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(registry: CollectorRegistry, rounds: int) -> dict[str, float]:
    """Median milliseconds per contender, interleaved over `rounds`."""
    text_cache = _prefix_cache.get_cache(openmetrics=False, const_labels=CONST)

    def cold() -> bytes:
        text_cache.clear()
        return render(registry, const_labels=CONST)

    contenders: dict[str, Callable[[], bytes]] = {
        "theirs": lambda: generate_latest(registry),
        "theirs_om": lambda: upstream_openmetrics(registry),
        "cold": cold,
        "ours": lambda: render(registry, const_labels=CONST),
        "ours_om": lambda: render(registry, const_labels=CONST, openmetrics=True),
    }
    for fn in contenders.values():  # warm-up: imports, caches
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(rounds):
        order = list(contenders)
        order = order[i % len(order) :] + order[: i % len(order)]  # rotate start each round
        for name in order:
            times[name].append(_timed(contenders[name]))
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    args = parser.parse_args()
    plan = [(1_000, 5 if args.quick else 41), (10_000, 3 if args.quick else 21)]
    plan.append((50_000, 1 if args.quick else 9))
    header = (
        f"{'samples':>8} {'bytes':>10} {'theirs':>9} {'theirs OM':>10} {'ours':>8} "
        f"{'ours OM':>8} {'cold':>8} {'ours/theirs':>12} {'OM/theirs':>10}"
    )
    print(header)
    for target, rounds in plan:
        registry = build_registry(target)
        body = generate_latest(registry)
        samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        ms = measure(registry, rounds)
        print(
            f"{samples:>8} {len(body):>10} {ms['theirs']:>7.1f}ms {ms['theirs_om']:>8.1f}ms "
            f"{ms['ours']:>6.1f}ms {ms['ours_om']:>6.1f}ms {ms['cold']:>6.1f}ms "
            f"{ms['ours'] / ms['theirs']:>12.2f} {ms['ours_om'] / ms['theirs']:>10.2f}"
        )


if __name__ == "__main__":
    main()
