"""A size-rotated log file that several processes may append to and rotate, one at a time.

Each batch starts from what is on disk, not from what this process remembers: the open file
is checked against the one at the path (another process may have rotated it away since the
last batch: the inode differs, and the file is opened again) and its size is the file's real
size (``fstat``), which counts every process's lines. Callers that share files across
processes hold the :class:`~.lockfile.LockFile` around each :meth:`RotatingFile.write_lines`
(the writer does), so the check, the write and a rotation are one step for every process.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ykmake.monitoring.logs.lockfile import still_at

__all__ = ["LogWriteError", "Opener", "RotatingFile", "open_append"]

Opener = Callable[[Path], IO[bytes]]


def open_append(path: Path) -> IO[bytes]:
    """``path`` for unbuffered appends, created 0600 (set at creation: never readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


class LogWriteError(Exception):
    """Some lines of a batch did not reach a file; the file holds no part of them."""

    def __init__(self, dropped: int, cause: OSError) -> None:
        super().__init__(f"{dropped} lines dropped: {cause.strerror or cause}")
        self.dropped = dropped
        self.reason = cause.strerror or str(cause)


class RotatingFile:
    """A size-rotated append-only file: ``name`` -> ``name.1`` -> ... -> ``name.N``.

    Unbuffered: the writer hands it a whole batch, which goes out in one ``write`` call
    (one syscall, one GIL release) unless the batch crosses the size limit. Rotated files
    keep their mode (a rename); each new file is made by ``opener`` (0600 by default).
    """

    def __init__(
        self, path: Path, max_bytes: int, backup_count: int, *, opener: Opener = open_append
    ) -> None:
        self.path, self.max_bytes, self.backup_count = path, max_bytes, backup_count
        self._opener = opener
        self._fh: IO[bytes] | None = None
        self._size = 0

    def _open(self) -> IO[bytes]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fh = self._opener(self.path)
        self._size = fh.seek(0, os.SEEK_END)
        self._fh = fh
        return fh

    def _current(self) -> IO[bytes]:
        """The file at the path, with its real size in ``_size``: the open one if no other
        process has rotated it away since the last batch, else the path opened again."""
        fh = self._fh
        if fh is not None:
            opened = os.fstat(fh.fileno())
            if still_at(opened, self.path):
                self._size = opened.st_size
                return fh
            self.close()  # renamed to name.1 (or further) by another process: never append there
        return self._open()

    def probe(self) -> None:
        """Create the file (or open the existing one) and close it again: raises OSError now,
        at start-up, if it cannot be written."""
        self._opener(self.path).close()

    def _rotate(self) -> None:
        self.close()
        for i in range(self.backup_count - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def _write_all(self, fh: IO[bytes], data: bytes) -> None:
        """All of ``data``, or none of it: a failed write's part that reached the file is cut
        back off, so the file never ends in half a line."""
        view = memoryview(data)
        start = written = 0
        try:
            while written < len(data):
                n = fh.write(view[written:])
                if not n:
                    raise OSError(errno.EIO, "the file took no bytes")
                if not written and n < len(data):  # short: where the batch began, for a cut
                    start = fh.tell() - n  # (never asked on the common path: one syscall)
                written += n
        except OSError:
            if written:
                self._cut_back(fh, start, written)
            raise
        self._size += len(data)

    @staticmethod
    def _cut_back(fh: IO[bytes], start: int, written: int) -> None:
        """Truncate the failed batch's bytes, ``[start, start + written)``, off the file: only
        when they are its end and in one piece. A writer that does not hold the lock may have
        appended after ours; its line must not go with it."""
        end = fh.tell()
        if end - start == written and os.fstat(fh.fileno()).st_size == end:
            os.ftruncate(fh.fileno(), start)

    def _parts(self, lines: list[bytes]) -> Iterator[tuple[bool, list[bytes]]]:
        """``(rotate first?, lines)`` in order, each part fitting under the size limit (a line
        longer than the limit gets a file of its own)."""
        chunk: list[bytes] = []
        size, rotate = self._size, False
        for line in lines:
            if size and size + len(line) > self.max_bytes:
                if chunk:
                    yield rotate, chunk
                chunk, size, rotate = [], 0, True
            chunk.append(line)
            size += len(line)
        if chunk:
            yield rotate, chunk

    def write_lines(self, lines: list[bytes]) -> None:
        """Append whole lines, rotating before a line that would pass the size limit.

        Raises:
            LogWriteError: the lines that did not make it (the others are in the file, whole).
        """
        done = 0
        try:
            fh = self._current()
            if self._size + sum(map(len, lines)) <= self.max_bytes:
                self._write_all(fh, b"".join(lines))  # the common case: one call
                return
            for rotate, chunk in self._parts(lines):
                if rotate:
                    self._rotate()
                self._write_all(self._fh or self._open(), b"".join(chunk))
                done += len(chunk)
        except OSError as exc:
            self.close()  # opened (and measured) again by the next batch
            raise LogWriteError(len(lines) - done, exc) from exc

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            # An unbuffered file has nothing left to flush: it is closed even if this raises.
            with contextlib.suppress(OSError):
                fh.close()
