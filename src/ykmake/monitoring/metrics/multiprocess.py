"""Several worker processes, one /metrics: prometheus_client's multiprocess mode.

Each worker writes its values to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``; a
scrape of any worker sums them (``livesum``/``livemax`` gauges count live workers only).
prometheus_client reads the variable when it is imported, so ``ykmake serve --workers N``
sets it before the workers start; each worker marks itself dead on shutdown and, on start,
clears the files of workers that died without doing so.
"""

from __future__ import annotations

import gc
import os
import platform
import re
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = [
    "DEFAULT_DIR",
    "LiveWorkersCollector",
    "ProcessSampler",
    "cleanup_dead_workers",
    "mark_worker_dead",
    "multiprocess_registry",
    "prepare_multiprocess_dir",
]

DEFAULT_DIR = Path(".ykmake/prometheus-multiproc")
_PID = re.compile(r"_(\d+)\.db$")


def prepare_multiprocess_dir(path: Path | None) -> Path:
    """Empty (or create) the directory (default ``DEFAULT_DIR``) and export it for the
    workers about to start."""
    path = path or DEFAULT_DIR
    if path.exists():
        shutil.rmtree(path)  # values of a previous run would be summed in otherwise
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path.resolve())
    return path


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (killed, not yet reaped by its supervisor) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: state is the field after "(comm)", which may itself hold spaces
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")


def cleanup_dead_workers(path: Path) -> list[int]:
    """Mark every worker whose process is gone as dead; returns their pids."""
    dead = set()
    for file in path.glob("*.db"):
        match = _PID.search(file.name)
        if match and not _alive(pid := int(match.group(1))):
            dead.add(pid)
    for pid in dead:
        mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
    return sorted(dead)


def mark_worker_dead(path: Path) -> None:
    mark_process_dead(os.getpid(), str(path))  # type: ignore[no-untyped-call]


_PROCESS_GAUGES: tuple[tuple[str, str, Literal["livesum", "livemin", "livemax"]], ...] = (
    ("process_resident_memory_bytes", "Resident memory of all workers", "livesum"),
    ("process_virtual_memory_bytes", "Virtual memory of all workers", "livesum"),
    ("process_cpu_seconds_total", "CPU seconds of all live workers", "livesum"),
    ("process_open_fds", "Open file descriptors of all workers", "livesum"),
    ("process_max_fds", "The file descriptor limit of a worker (each has the same)", "livemax"),
    ("process_start_time_seconds", "Start time of the oldest worker", "livemin"),
)


class ProcessSampler:
    """Process, garbage-collector and platform metrics in multiprocess mode, where
    prometheus_client's own collectors would only describe the worker that happens to answer
    the scrape (or, for GC and Python info, not exist): each worker writes its own numbers
    into live gauges, summed over the live workers (memory, CPU, open files, collections) or
    the same in each (the fd limit, the Python version).

    Collections and collected objects are counters in one process; here they are the sum over
    the workers alive now, so a worker that stops takes its share with it, which ``rate()``
    reads as a counter reset.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._source = ProcessCollector(registry=None)
        self._gauges = {
            name: Gauge(name, doc, registry=registry, multiprocess_mode=mode)
            for name, doc, mode in _PROCESS_GAUGES
        }
        self._collections = Gauge(
            "python_gc_collections_total",
            "Number of times this generation was collected, all live workers",
            ["generation"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._collected = Gauge(
            "python_gc_objects_collected_total",
            "Objects collected during gc, all live workers",
            ["generation"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        info = sys.version_info
        Gauge(
            "python_info",
            "Python platform information",
            ["implementation", "major", "minor", "patchlevel", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        ).labels(
            platform.python_implementation(),
            str(info.major),
            str(info.minor),
            str(info.micro),
            platform.python_version(),
        ).set(1)

    def sample(self) -> None:
        for family in self._source.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)
        for generation, stats in enumerate(gc.get_stats()):
            self._collections.labels(str(generation)).set(stats["collections"])
            self._collected.labels(str(generation)).set(stats["collected"])


class LiveWorkersCollector(MultiProcessCollector):
    """Sums every worker's files, first dropping the live gauges of workers that died.

    A worker killed without running its shutdown (OOM, SIGKILL) leaves its ``livesum`` and
    ``livemax`` files behind; until a new worker starts and clears them, they would be
    summed in. Clearing them at every scrape costs a directory listing and one ``kill(pid,
    0)`` per worker, and holds whichever worker answers.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(None, path=str(path))  # type: ignore[no-untyped-call]
        self._dir = path

    def collect(self) -> Iterable[Metric]:
        cleanup_dead_workers(self._dir)
        metrics: Iterable[Metric] = super().collect()  # type: ignore[no-untyped-call]
        return metrics


def multiprocess_registry(path: Path) -> CollectorRegistry:
    """A registry whose collect() sums every live worker's files (and dead ones' counters)."""
    registry = CollectorRegistry()
    registry.register(LiveWorkersCollector(path))
    return registry
