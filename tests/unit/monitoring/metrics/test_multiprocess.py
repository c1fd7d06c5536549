"""Multiprocess mode: live gauges of dead workers are dropped at scrape time; counters stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key

from tests.support.server import wait_until
from ykmake.monitoring.metrics.exposition import render
from ykmake.monitoring.metrics.multiprocess import cleanup_dead_workers, multiprocess_registry

IN_PROGRESS = mmap_key(
    "http_requests_in_progress",
    "http_requests_in_progress",
    ["method", "path"],
    ["GET", "/slow"],
    "HTTP requests being served right now",
)
REQUESTS = mmap_key(
    "http_requests_total",
    "http_requests_total",
    ["method", "path", "status_code"],
    ["GET", "/slow", "200"],
    "Total number of HTTP requests",
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    code = "import os; print(os.getpid())"
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(proc.stdout)


def write(path: Path, kind: str, pid: int, key: str, value: float) -> None:
    values = MmapedDict(str(path / f"{kind}_{pid}.db"))  # type: ignore[no-untyped-call]
    values.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    values.close()  # type: ignore[no-untyped-call]


def sample(path: Path, name: str, **labels: str) -> float | None:
    registry = multiprocess_registry(path)
    return registry.get_sample_value(name, {"method": "GET", "path": "/slow", **labels})


def test_a_dead_workers_live_gauge_is_dropped_but_its_counts_stay(tmp_path: Path) -> None:
    alive, dead = os.getpid(), dead_pid()
    write(tmp_path, "gauge_livesum", alive, IN_PROGRESS, 1.0)
    write(tmp_path, "gauge_livesum", dead, IN_PROGRESS, 2.0)
    write(tmp_path, "counter", alive, REQUESTS, 3.0)
    write(tmp_path, "counter", dead, REQUESTS, 4.0)

    assert sample(tmp_path, "http_requests_in_progress") == 1.0
    assert sample(tmp_path, "http_requests_total", status_code="200") == 7.0
    assert not (tmp_path / f"gauge_livesum_{dead}.db").exists()
    assert (tmp_path / f"counter_{dead}.db").exists()


def test_cleanup_reports_dead_pids_only(tmp_path: Path) -> None:
    dead = dead_pid()
    write(tmp_path, "gauge_livemax", dead, IN_PROGRESS, 1.0)
    write(tmp_path, "gauge_livemax", os.getpid(), IN_PROGRESS, 1.0)
    assert cleanup_dead_workers(tmp_path) == [dead]
    assert cleanup_dead_workers(tmp_path) == []


def test_multiprocess_exposition_carries_the_app_label(tmp_path: Path) -> None:
    write(tmp_path, "counter", dead_pid(), REQUESTS, 4.0)
    body = render(multiprocess_registry(tmp_path), const_labels={"app": "ykmake"}).decode()
    assert (
        'http_requests_total{app="ykmake",method="GET",path="/slow",status_code="200"} 4.0' in body
    )


def test_a_killed_but_unreaped_worker_counts_as_dead(tmp_path: Path) -> None:
    """Until its supervisor reaps it, a killed worker is a zombie that kill(pid, 0) still finds."""
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        write(tmp_path, "gauge_livesum", zombie.pid, IN_PROGRESS, 1.0)
        wait_until(lambda: _state(zombie.pid) == "Z")
        assert cleanup_dead_workers(tmp_path) == [zombie.pid]
    finally:
        zombie.wait()


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2]
