"""N workers, one truth: processes sharing ``ALERT_SPOOL_DIR`` replay every journal entry once.

Each process writes a journal folder of its own and holds its lock while it lives; a folder
whose process is gone is adopted by whichever process locks it first. Two processes racing
over the folders of six dead workers store every occurrence exactly once.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.alerts.support import (
    ROOT,
    app_env,
    postgres_refusing,
    query,
    running_app,
)
from tests.support.server import wait_until
from tests.support.services import fresh_postgres_database
from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore

pytestmark = pytest.mark.integration

WORKERS, PER_WORKER, KINDS = 6, 60, 10


def dead_workers_journals(spool_dir: Path) -> Counter[str]:
    """Journals of WORKERS processes that stopped with the database down; what they hold."""
    expected: Counter[str] = Counter()
    for worker in range(WORKERS):
        spool = AlertSpool(spool_dir)
        for n in range(PER_WORKER):
            kind = f"kind-{(worker + n) % KINDS}"
            expected[kind] += 1
            spool.write(
                {
                    "severity": "error",
                    "title": kind,
                    "message": "written while the database was down",
                    "details": {"worker": worker, "n": n},
                    "source": "app",
                    "fingerprint": kind,
                    "at": "2026-12-01T10:00:00+00:00",
                    "slack_sent": False,
                }
            )
        spool.close()  # its process is gone: the folder waits for someone to adopt it
    return expected


def test_two_processes_replay_a_shared_journal_once(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    AlertStore(engine).create_tables()
    engine.dispose()
    spool_dir, go = tmp_path / "spool", tmp_path / "go"
    expected = dead_workers_journals(spool_dir)
    assert len(list(spool_dir.iterdir())) == WORKERS
    replayers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.alerts.replayer",
                database_url,
                str(spool_dir),
                str(go),
            ],
            cwd=ROOT,
            env=app_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()  # both start together
    moved = [int(p.communicate(timeout=120)[0]) for p in replayers]
    assert [p.returncode for p in replayers] == [0, 0]
    assert sum(moved) == WORKERS * PER_WORKER
    stored = dict(query(database_url, "SELECT fingerprint, occurrences FROM alerts"))
    assert stored == dict(expected)  # exact: no entry replayed twice, none skipped
    assert list(spool_dir.iterdir()) == []  # every adopted folder removed once empty


def _round_of_errors(base: str) -> list[int]:
    """One error of each of the 10 kinds, 10 clients at once on connections of their own (so
    both workers take some)."""
    with ThreadPoolExecutor(10) as pool:
        return list(
            pool.map(lambda n: httpx.get(f"{base}/fail/{n}", timeout=30).status_code, range(10))
        )


def test_two_workers_with_the_database_down_store_each_occurrence_once(tmp_path: Path) -> None:
    """``--workers 2`` on one ALERT_SPOOL_DIR: errors of 10 kinds while the database refuses
    connections go to the two workers' journals; once it is back, each worker moves its own
    journal in, and every kind has exactly the occurrences it was raised."""
    spool = tmp_path / "spool"
    with fresh_postgres_database() as url:
        env = app_env(
            environment="test",
            log_dir=tmp_path / "logs",
            alert_database_url=url,
            alert_spool_dir=spool,
            alert_worker_interval_seconds=0.2,
        )
        app = "tests.integration.alerts.crash_app"
        log = tmp_path / "logs" / "combined.log"
        with running_app(app, env, tmp_path, tmp_path / "out", workers=2) as served:
            # Both workers up (each made its alert tables) before the database goes away.
            wait_until(lambda: log.read_text().count("Application startup complete") == 2, 60)
            rounds = 0
            with postgres_refusing(url):
                # 10 rounds at least; more until both workers have written a journal.
                while rounds < 10 or len([p for p in spool.iterdir() if p.is_dir()]) < 2:
                    assert _round_of_errors(served.base) == [500] * 10
                    rounds += 1
                    assert rounds < 100, "one worker took every request"

            def stored() -> list[tuple[str, int]]:
                return sorted(query(url, "SELECT title, occurrences FROM alerts"))

            wait_until(lambda: sum(n for _, n in stored()) >= 10 * rounds, timeout=60, interval=0.2)
            rows = stored()
    assert [n for _, n in rows] == [rounds] * 10  # exact: none replayed twice, none lost
    assert not list(spool.glob("*/*.json"))
