"""Off-loop log output: finished lines go to one writer thread that owns every file.

A line is rendered once on the caller's thread and only the finished bytes cross to the
writer, which appends them to each file in batches: no file I/O on the event loop, and no
``LogRecord`` or ``Formatter`` per line. Rotation lives in the writer thread too, so a line
is never torn across two files.

The files are created 0600 (their folder 0700 when it is new): log lines carry request
details only the service's owner should read. A write that fails (a full disk, a quota, an
I/O error) is cut back off the file, so every file holds whole JSON lines; the batch is
dropped and counted, stderr hears once that lines are being dropped and once that they are
written again, and the service goes on serving.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat, starmap
from pathlib import Path
from typing import IO, NamedTuple

from ykmake.monitoring.exceptions import StartupError
from ykmake.monitoring.logs.dropped import DropCounter, DroppedLines
from ykmake.monitoring.logs.lines import Line

__all__ = ["LogWriteError", "LogWriter", "Opener", "RotatingFile", "Sink", "open_append"]

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


class Sink(NamedTuple):
    """A destination file and the lines it takes."""

    name: str
    min_level: int
    channel: str | None = None  # only lines sent on this channel (exceptions, rejections)


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
        when they are its end and in one piece. Several workers append to the same files; a
        line another one wrote after ours must not go with it."""
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
            fh = self._fh or self._open()
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


class LogWriter:
    """Owns the log files and the console stream; ``submit`` is all the hot path calls.

    The writer thread polls every ``flush_interval`` seconds instead of blocking on a
    queue: waking a blocked thread for every line (and the GIL hand-off that follows)
    costs a 2-core machine more than rendering the line, while appending to a deque that
    nobody waits on is one C call. Lines reach disk within ``flush_interval``.
    """

    def __init__(
        self,
        log_dir: Path | None,
        sinks: Iterable[Sink],
        *,
        max_bytes: int,
        backup_count: int,
        console: IO[str] | None = None,
        json_to_stdout: bool = False,
        flush_interval: float = 0.05,
        opener: Opener = open_append,
    ) -> None:
        self._files: list[tuple[Sink, RotatingFile]] = []
        if log_dir is not None:
            self._files = [
                (s, RotatingFile(log_dir / s.name, max_bytes, backup_count, opener=opener))
                for s in sinks
            ]
            _check_writable(log_dir, self._files)
        self.dropped = DroppedLines()
        self._console = console
        self._json_to_stdout = json_to_stdout
        self._pending: deque[Line] = deque()
        self._interval = flush_interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ykmake-log-writer", daemon=True)
        self._started = False
        self._closed = False
        self._lock = threading.Lock()  # one writer at a time: the thread, or close()
        # The hot path (the access line) is one C call. After close() nothing reads the
        # queue: lines that may come then (the server's last ones, excepthooks) use write().
        self.submit: Callable[[Line], None] = self._pending.append

    def write(self, line: Line) -> None:
        """Queue one line; once the writer is closed, write it at once."""
        self._pending.append(line)
        if self._closed:
            self._write_late()

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def count_drops(self, counter: DropCounter) -> None:
        """Report lines a file could not take to ``counter`` (file name, lines): a metric.
        Every file is reported once with 0 first, so its series exists before a drop."""
        with self._lock:
            for sink, _ in self._files:
                counter(sink.name, 0)
            self.dropped.count_with(counter)

    def _take(self) -> list[Line]:
        """Everything queued so far (``submit`` may go on appending meanwhile)."""
        return list(starmap(self._pending.popleft, repeat((), len(self._pending))))

    def _write_batch(self, batch: list[Line]) -> None:
        """Write ``batch`` (never empty) with one ``write`` per file: a write releases the GIL
        and the event loop must hand it back, so per-line writes would cost the loop a GIL
        round trip each."""
        for sink, fh in self._files:
            chosen = _lines_for(sink, batch)
            if not chosen:
                continue
            try:
                fh.write_lines(chosen)
            except LogWriteError as failed:
                self.dropped.dropped(sink.name, failed.dropped, failed.reason)
            except Exception as exc:  # noqa: BLE001 - logging must never kill the writer
                sys.stderr.write(f"ykmake log writer: {sink.name}: {exc!r}\n")
            else:
                self.dropped.written(sink.name)
        try:
            self._write_console(batch)
        except Exception as exc:  # noqa: BLE001
            sys.stderr.write(f"ykmake log writer: console: {exc!r}\n")

    def _write_console(self, batch: list[Line]) -> None:
        if self._json_to_stdout:
            sys.stdout.buffer.write(b"".join(line.json for line in batch))
            sys.stdout.buffer.flush()
        elif self._console is not None:
            texts = [line.console for line in batch if line.console is not None]
            if texts:
                self._console.write("\n".join(texts) + "\n")
                self._console.flush()

    def _drain(self) -> None:
        """Write everything queued, including what arrives meanwhile."""
        while batch := self._take():
            self._write_batch(batch)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            with self._lock:
                if batch := self._take():  # one batch per wake: later lines wait for the next
                    self._write_batch(batch)
        with self._lock:
            self._drain()

    def _write_late(self) -> None:
        with self._lock:
            self._drain()
            for _, fh in self._files:
                fh.close()  # late lines are rare: keep no file open behind them

    def close(self, timeout: float = 10.0) -> None:
        """Drain every queued line to disk, stop the thread and close the files; a line
        submitted later is written at once."""
        with self._lock:
            started, self._started = self._started, False
        if started:
            self._stopping.set()
            self._thread.join(timeout)
        with self._lock:
            self._closed = True
            self._drain()
            for _, fh in self._files:
                fh.close()


def _check_writable(log_dir: Path, files: list[tuple[Sink, RotatingFile]]) -> None:
    """Make ``log_dir`` (0700 when new) and its first file now, so a directory that can't hold
    the logs stops start-up with one line instead of failing on every line later.

    Raises:
        StartupError: naming LOG_DIR and the reason.
    """
    try:
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if files:
            files[0][1].probe()
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and exc.filename != str(log_dir) else ""
        msg = f"LOG_DIR={str(log_dir)!r} cannot hold the log files: {exc.strerror or exc}{where}"
        raise StartupError(msg) from None


def _lines_for(sink: Sink, batch: list[Line]) -> list[bytes]:
    """The lines of ``batch`` that ``sink`` takes."""
    if sink.channel is not None:
        return [line.json for line in batch if line.channel == sink.channel]
    return [line.json for line in batch if line.level >= sink.min_level]
