"""``ykmake serve --workers 2``: whichever worker answers /metrics, the counts add up exactly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.integration.metrics.scrape import scrape, value
from tests.support.server import free_port, wait_until
from ykmake.settings import Settings

pytestmark = pytest.mark.integration
HEALTH = {"method": "GET", "path": "/health", "status_code": "200"}
SLOW = {"method": "GET", "path": "/api/debug/slow"}


@dataclass
class Served:
    base: str
    multiproc_dir: Path
    process: subprocess.Popen[bytes]


def clean_env(tmp_path: Path, multiproc_dir: Path) -> dict[str, str]:
    """The caller's environment without any setting of ours, plus this test's own."""
    ours = set(Settings.variable_names())
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(
        YKMAKE_ENV="test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'ykmake.db'}",
        LOG_DIR=str(tmp_path / "logs"),
        ALERT_SPOOL_DIR=str(tmp_path / "spool"),
        PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir),
    )
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (supervisor and workers); SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        pytest.fail("ykmake serve did not stop on SIGTERM within 20 s")


@contextmanager
def two_workers(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    multiproc_dir = tmp_path / "multiproc"
    output = (tmp_path / "serve.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ykmake", "serve", "--workers", "2", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(tmp_path, multiproc_dir),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as one
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                log = (tmp_path / "serve.out").read_text(errors="replace")
                pytest.fail(f"ykmake serve exited with {process.returncode}:\n{log}")
            try:
                return httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=60, interval=0.1)
        yield Served(base, multiproc_dir, process)
    finally:
        stop(process)
        output.close()


def per_worker(multiproc_dir: Path, kind: str, name: str, labels: dict[str, str]) -> Counter[int]:
    """What each worker wrote for one series (read from its own file, not a scrape)."""
    totals: Counter[int] = Counter()
    for path in multiproc_dir.glob(f"{kind}_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        read = cast(Any, MmapedDict).read_all_values_from_file(str(path))
        for key, number, _timestamp, _pos in read:
            _, sample, sample_labels, _ = json.loads(key)
            if sample == name and sample_labels.items() >= labels.items():
                totals[pid] += number
    return totals


def test_two_workers_counts_add_up_in_every_scrape(tmp_path: Path) -> None:
    with two_workers(tmp_path) as served:
        assert value(scrape(served.base), "http_requests_total", **HEALTH) == 1  # the probe
        sent = 1

        def both_served() -> bool:
            nonlocal sent
            for _ in range(20):  # a fresh connection each: the kernel spreads them
                assert httpx.get(f"{served.base}/health", timeout=5).status_code == 200
                sent += 1
            by_pid = per_worker(served.multiproc_dir, "counter", "http_requests_total", HEALTH)
            return len([n for n in by_pid.values() if n > 0]) == 2

        wait_until(both_served, timeout=60)
        by_pid = per_worker(served.multiproc_dir, "counter", "http_requests_total", HEALTH)
        assert sum(by_pid.values()) == sent
        scrapes = [value(scrape(served.base), "http_requests_total", **HEALTH) for _ in range(10)]
        assert scrapes == [sent] * 10
        durations = value(scrape(served.base), "http_request_duration_seconds_count", **HEALTH)
        assert durations == sent


def test_a_killed_worker_leaves_counts_but_not_its_requests_in_flight(tmp_path: Path) -> None:
    with two_workers(tmp_path) as served:
        for _ in range(10):
            httpx.get(f"{served.base}/health", timeout=5)
        slow = threading.Thread(target=_slow_request, args=(served.base,), daemon=True)
        slow.start()

        def worker_in_flight() -> int | None:
            found = per_worker(
                served.multiproc_dir, "gauge_livesum", "http_requests_in_progress", SLOW
            )
            return next((pid for pid, n in found.items() if n >= 1), None)

        pid = wait_until(worker_in_flight, timeout=20)  # each worker samples it every second
        assert value(scrape(served.base), "http_requests_in_progress", **SLOW) == 1
        os.kill(pid, signal.SIGKILL)  # no shutdown hook runs: its files stay behind
        wait_until(lambda: not _running(pid))
        # The next scrape, long before a replacement worker is up, already leaves it out.
        body = scrape(served.base)
        assert value(body, "http_requests_in_progress", **SLOW) in (None, 0.0)
        assert value(body, "http_requests_total", **HEALTH) == 11  # the dead worker's count too
        slow.join(15)


def _running(pid: int) -> bool:
    """False once ``pid`` is gone or a zombie its supervisor has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _slow_request(base: str) -> None:
    with contextlib.suppress(httpx.TransportError):  # its worker is killed mid-request
        httpx.get(f"{base}/api/debug/slow", params={"ms": 8000}, timeout=15)
