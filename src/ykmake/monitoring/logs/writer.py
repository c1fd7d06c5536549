"""Off-loop log output: finished lines go to one writer thread per process.

A line is rendered once on the caller's thread and only the finished bytes cross to the
writer, which appends them to each file in batches: no file I/O on the event loop, and no
``LogRecord`` or ``Formatter`` per line. Rotation lives in the writer thread too, so a line
is never torn across two files.

Several processes on one ``LOG_DIR`` (``ykmake serve --workers N``, and uvicorn's supervisor)
each have a writer on the same files. They take turns: a writer holds an exclusive ``flock``
on ``LOG_DIR/.writers.lock`` (:mod:`.lockfile`) while it writes a batch to the files and
rotates them, and under it starts from the files on disk, not from what it remembers
(:mod:`.rotating`): a file another process rotated away is opened again at the path, and the
size limit is checked against the file's real size. So no line is lost, no rotated file is
skipped or overwritten, and no file passes ``LOG_MAX_BYTES``. A lock rather than the
alternatives because it keeps what a user reads the same for 1 or N workers: per-worker
files would scatter one service's lines over files named by pids that change on every
restart, and one writer process for all would be a process to supervise and a pipe every
line crosses. Its price is paid once a batch (every ``flush_interval``), never per line: two
``flock`` calls and an ``fstat``/``stat`` pair for the lock and for each file written, and a
writer waiting while another one writes.

The files are created 0600 (their folder 0700 when it is new): log lines carry request
details only the service's owner should read. A write that fails (a full disk, a quota, an
I/O error) is cut back off the file, so every file holds whole JSON lines; the batch is
dropped and counted, stderr hears once that lines are being dropped and once that they are
written again, and the service goes on serving.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat, starmap
from pathlib import Path
from typing import IO, NamedTuple

from ykmake.monitoring.exceptions import StartupError
from ykmake.monitoring.logs.dropped import DropCounter, DroppedLines
from ykmake.monitoring.logs.lines import Line
from ykmake.monitoring.logs.lockfile import LOCK_NAME, LockFile
from ykmake.monitoring.logs.rotating import LogWriteError, Opener, RotatingFile, open_append

# The file's parts that moved to .rotating stay importable from here.
__all__ = ["LogWriteError", "LogWriter", "Opener", "RotatingFile", "Sink", "open_append"]


class Sink(NamedTuple):
    """A destination file and the lines it takes."""

    name: str
    min_level: int
    channel: str | None = None  # only lines sent on this channel (exceptions, rejections)


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
        self._turns: LockFile | None = None  # the writers' lock, shared with other processes
        if log_dir is not None:
            self._files = [
                (s, RotatingFile(log_dir / s.name, max_bytes, backup_count, opener=opener))
                for s in sinks
            ]
            self._turns = LockFile(log_dir / LOCK_NAME)
            _check_writable(log_dir, self._files, self._turns)
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
        work = [(s, fh, chosen) for s, fh in self._files if (chosen := _lines_for(s, batch))]
        if work:
            self._write_files(work)
        try:
            self._write_console(batch)
        except Exception as exc:  # noqa: BLE001
            sys.stderr.write(f"ykmake log writer: console: {exc!r}\n")

    def _write_files(self, work: list[tuple[Sink, RotatingFile, list[bytes]]]) -> None:
        """Each file's lines, in one turn of the writers' lock: no other process writes or
        rotates these files meanwhile, so what each file finds on disk stays true."""
        turns = _acquired(self._turns)
        try:
            for sink, fh, lines in work:
                self._write_file(sink, fh, lines)
        finally:
            if turns is not None:
                turns.release()

    def _write_file(self, sink: Sink, fh: RotatingFile, lines: list[bytes]) -> None:
        try:
            fh.write_lines(lines)
        except LogWriteError as failed:
            self.dropped.dropped(sink.name, failed.dropped, failed.reason)
        except Exception as exc:  # noqa: BLE001 - logging must never kill the writer
            sys.stderr.write(f"ykmake log writer: {sink.name}: {exc!r}\n")
        else:
            self.dropped.written(sink.name)

    def _close_files(self) -> None:
        for _, fh in self._files:
            fh.close()
        if self._turns is not None:
            self._turns.close()

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
            self._close_files()  # late lines are rare: keep no file open behind them

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
            self._close_files()


def _acquired(turns: LockFile | None) -> LockFile | None:
    """``turns``, now held; None if there is none or it cannot be taken (its folder removed or
    made read-only since start-up). The lines are written all the same: a file that cannot
    take them either says why, counted as drops, and a lock file that is back is used again."""
    if turns is None:
        return None
    try:
        turns.acquire()
    except OSError:
        return None
    return turns


def _check_writable(log_dir: Path, files: list[tuple[Sink, RotatingFile]], turns: LockFile) -> None:
    """Make ``log_dir`` (0700 when new), its lock file and its first file now, so a directory
    that can't hold the logs stops start-up with one line instead of failing on every line later.

    Raises:
        StartupError: naming LOG_DIR and the reason.
    """
    try:
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with turns:
            pass  # made (0600) and lockable: the first batch won't find out otherwise
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
