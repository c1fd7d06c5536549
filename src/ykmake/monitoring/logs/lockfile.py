"""The lock that lets several processes write (and rotate) the same log files.

``ykmake serve --workers N`` runs N processes, each with its own writer thread, on the same
files under ``LOG_DIR``. Each one holds an exclusive ``flock`` on ``LOG_DIR/.writers.lock``
while it writes a batch and rotates; see :mod:`.writer` for why a lock rather than a writer per
file or files per worker.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

__all__ = ["LOCK_NAME", "LockFile", "still_at"]

LOCK_NAME = ".writers.lock"  # hidden, and no log file's glob (``combined.log*``) matches it
_OPEN_TRIES = 3  # a lock file replaced under us is picked up again; more is a busy loop


class LockFile:
    """An exclusive ``flock`` on ``path``: :meth:`acquire` / :meth:`release`, or a ``with``
    block; not reentrant.

    ``flock`` locks belong to an open file, not a process: two of these in one process (or two
    threads) exclude each other like two processes do. The file is opened on first use, made
    0600, and kept open; :meth:`close` lets it go.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Wait for the lock. A lock file someone deleted or replaced while it was open here
        would be a lock nobody else takes: once locked, the file must still be the one at the
        path, or the path is opened (and locked) again.

        Raises:
            OSError: the lock file cannot be made or locked (its folder is gone or read-only).
        """
        for _ in range(_OPEN_TRIES):
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if still_at(os.fstat(self._fd), self.path):
                return
            self.close()
        msg = f"{self.path} keeps being replaced"
        raise OSError(errno.EAGAIN, msg)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __enter__(self) -> LockFile:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def close(self) -> None:
        """Close the file (which releases the lock if held)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def still_at(opened: os.stat_result, path: Path) -> bool:
    """Whether the open file ``opened`` (its ``fstat``) is still the file at ``path``: False
    once another process renamed it away (a rotation) or deleted it."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    return (opened.st_ino, opened.st_dev) == (here.st_ino, here.st_dev)
