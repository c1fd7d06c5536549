"""The writers' lock: while one holds it, nobody else gets it — checked with a non-blocking
``flock`` from another open file, as another process would try, so no test waits on time."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from ykmake.monitoring.logs.lockfile import LockFile


def _free(path: Path) -> bool:
    """Whether another open file of ``path`` could take the lock right now (``flock`` locks
    belong to open files: in this process or another, it is the same)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases it again if it was taken
    return True


def test_held_it_keeps_everyone_else_out_and_released_it_lets_them_in(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / ".writers.lock")
    with lock:
        assert not _free(lock.path)
    assert _free(lock.path)
    lock.close()
    assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600


def test_a_lock_file_deleted_while_open_is_made_again(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / ".lock")
    with lock:
        pass
    lock.path.unlink()  # e.g. someone cleaned LOG_DIR: the open one is a lock nobody else sees
    with lock:
        assert lock.path.exists()
        assert not _free(lock.path)  # the file at the path is the one held
    lock.close()


def test_one_that_cannot_be_made_says_so(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "gone" / ".lock")
    with pytest.raises(FileNotFoundError):
        lock.acquire()
