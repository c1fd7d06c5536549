"""What the toolkit writes to disk is its owner's alone: the SQLite database (and its WAL and
shared-memory files), the alert spool and the log files are 0600, the folders it makes 0700 —
even under a umask that would let everyone read them."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.exceptions import StartupError
from ykmake.monitoring.logs.lines import Line
from ykmake.monitoring.logs.writer import LogWriter, Sink


@pytest.fixture(autouse=True)
def _world_readable_umask() -> Iterator[None]:
    """A umask of 0: any mode left to the defaults would come out 0666 / 0777."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_and_its_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "alerts.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            # Read while the connection is open: SQLite removes -wal and -shm on the last close.
            files = {p.name: mode(p) for p in db.parent.iterdir()}
    finally:
        engine.dispose()
    assert files == {"alerts.db": 0o600, "alerts.db-wal": 0o600, "alerts.db-shm": 0o600}
    assert mode(db.parent) == 0o700


def test_an_existing_database_file_keeps_the_mode_it_was_given(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)  # set on purpose, e.g. for a backup job's group
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o640


def test_the_spool_folder_and_its_files_are_private(tmp_path: Path) -> None:
    spool = AlertSpool(tmp_path / "spool")
    path = spool.write({"title": "database down", "message": "DATABASE_URL unreachable"})
    spool.update(path, attempts=1)
    journal = path.parent  # this process's own folder
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [journal.name]
    assert mode(tmp_path / "spool") == mode(journal) == 0o700
    assert mode(path) == mode(journal / ".lock") == 0o600
    assert sorted(p.name for p in journal.iterdir()) == [".lock", path.name]  # no temp file
    spool.close()


def test_log_files_and_their_rotations_are_private(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    writer = LogWriter(
        log_dir,
        [Sink("combined.log", 0), Sink("error.log", 40)],
        max_bytes=1024,
        backup_count=3,
    )
    writer.start()
    for n in range(100):
        writer.submit(Line(40, b'{"n": %d, "pad": "................"}\n' % n, None, None))
    writer.close()
    files = sorted(log_dir.iterdir())
    assert {p.name for p in files} >= {"combined.log", "combined.log.1", "error.log.1"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(log_dir) == 0o700


def test_a_log_dir_that_cannot_hold_files_stops_start_up_naming_log_dir(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    log_dir = tmp_path / "a-file" / "logs"
    with pytest.raises(StartupError) as failed:
        LogWriter(log_dir, [Sink("combined.log", 0)], max_bytes=1024, backup_count=1)
    assert str(failed.value) == (
        f"LOG_DIR={str(log_dir)!r} cannot hold the log files: {os.strerror(errno.ENOTDIR)}"
    )
