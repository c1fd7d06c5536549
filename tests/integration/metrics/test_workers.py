"""``ykmake serve --workers N``: whichever worker answers /metrics, the counts add up exactly;
whichever worker served a request, its access line is in the log files once, across rotation."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.integration.metrics.scrape import samples, scrape, value
from tests.support.logs import read_lines, rotated_files
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
    """SIGTERM to the supervisor this test started, which stops its workers as an operator's
    SIGTERM would; SIGKILL to its process group (only processes this test started) if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        pytest.fail("ykmake serve did not stop on SIGTERM within 20 s")


@contextmanager
def serving(tmp_path: Path, workers: int = 2, **settings: str) -> Iterator[Served]:
    """``ykmake serve --workers N`` with this test's settings (and ``settings``) until it
    answers; stopped after."""
    port = free_port()
    multiproc_dir = tmp_path / "multiproc"
    output = (tmp_path / "serve.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ykmake", "serve", "--workers", str(workers), "--port", str(port)],
        cwd=tmp_path,
        env={**clean_env(tmp_path, multiproc_dir), **settings},
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed as one if it hangs
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
    with serving(tmp_path) as served:
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
    with serving(tmp_path) as served:
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


BACKUPS = 100  # LOG_BACKUP_COUNT's ceiling: each case rotates ~40 times, so nothing falls off


@pytest.mark.parametrize(
    ("workers", "requests", "max_bytes"),
    # Four workers on two cores spend seconds starting: half the requests at half the size
    # limit keep the wall time down and rotate as often (~40 times).
    [(2, 12_000, 100_000), (4, 6_000, 50_000)],
    ids=["2-workers", "4-workers"],
)
def test_every_access_line_is_in_the_logs_once_across_rotation(
    tmp_path: Path, workers: int, requests: int, max_bytes: int
) -> None:
    log_dir = tmp_path / "logs"
    ids = [f"w{workers}-{n:06d}" for n in range(requests)]  # sorted as they are
    limits = {"LOG_MAX_BYTES": str(max_bytes), "LOG_BACKUP_COUNT": str(BACKUPS)}
    with serving(tmp_path, workers, **limits) as served:
        wait_until(lambda: _started(log_dir) == workers, timeout=60)  # all of them take requests
        _send(served.base, ids)
        by_pid = per_worker(served.multiproc_dir, "counter", "http_requests_total", HEALTH)
        assert len(by_pid) == workers  # each served some: each wrote (and rotated) the files
        sent = requests + 1  # and the probe that found it up
        assert sum(by_pid.values()) == sent
        scrapes = [value(scrape(served.base), "http_requests_total", **HEALTH) for _ in range(5)]
        assert scrapes == [sent] * 5
    assert served.process.returncode == 0  # a graceful stop: every worker drained its lines

    every_file = sorted(p for p in log_dir.iterdir() if ".log" in p.name)  # not the lock
    assert max(p.stat().st_size for p in every_file) <= max_bytes
    lines = {p: read_lines(p) for p in every_file}  # every line of every file is whole JSON
    combined = rotated_files(log_dir, "combined.log")  # gapless: none skipped or overwritten
    assert 30 < len(combined) - 1 < BACKUPS  # rotated many times; none rotated away
    logged = [
        line["request_id"]
        for path in combined
        for line in lines[path]
        if line.get("event") == "request completed" and line["request_id"].startswith("w")
    ]
    assert sorted(logged) == ids  # each request's line, exactly once


def _started(log_dir: Path) -> int:
    """How many workers have said they are ready (in combined.log: it has not rotated yet)."""
    lines = read_lines(log_dir / "combined.log")
    return sum(line.get("event") == "Application startup complete." for line in lines)


def _send(base: str, ids: list[str], *, clients: int = 4, per_connection: int = 200) -> None:
    """``GET /health`` once per id (its ``X-Request-ID``) from ``clients`` threads; a fresh
    connection every ``per_connection`` requests, so the kernel spreads them over the workers."""

    def one_connection(chunk: list[str]) -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            for request_id in chunk:
                response = client.get("/health", headers={"X-Request-ID": request_id})
                assert response.status_code == 200

    chunks = [ids[i : i + per_connection] for i in range(0, len(ids), per_connection)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_connection, chunks))  # re-raises a failed request here


def test_gc_python_and_file_descriptors_are_there_with_workers(tmp_path: Path) -> None:
    """What the overview's process panels read exists in multiprocess mode too: collections
    summed over the live workers, the fd limit and the Python version as each worker has them."""
    with serving(tmp_path) as served:

        def sampled_by_both() -> bool:
            for _ in range(10):  # fresh connections: the kernel spreads them
                httpx.get(f"{served.base}/health", timeout=5)
            found = per_worker(
                served.multiproc_dir, "gauge_livesum", "python_gc_collections_total", {}
            )
            return len(found) == 2  # each worker samples every second

        wait_until(sampled_by_both, timeout=30)
        body = scrape(served.base)
        text = scrape(served.base, openmetrics=True)
    names = {s.name for s in samples(body)}
    assert {"python_gc_collections_total", "python_gc_objects_collected_total"} <= names
    assert {"process_max_fds", "process_open_fds", "python_info"} <= names
    collections = [s for s in samples(body) if s.name == "python_gc_collections_total"]
    assert sorted(s.labels["generation"] for s in collections) == ["0", "1", "2"]
    assert "pid" not in collections[0].labels  # one series for the service, not per worker
    gen0 = value(body, "python_gc_collections_total", generation="0")
    assert gen0 is not None
    assert gen0 > 0
    assert value(body, "python_info", implementation=platform.python_implementation()) == 1
    # Exemplars need the single-process registry: multiprocess files do not store them.
    assert " # {" not in text
