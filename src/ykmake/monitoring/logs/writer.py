"""Off-loop log output: finished lines go to one writer thread that owns every file.

A line is rendered once on the caller's thread and only the finished bytes cross to the
writer, which appends them to each file in batches: no file I/O on the event loop, and no
``LogRecord`` or ``Formatter`` per line. Rotation lives in the writer thread too, so a line
is never torn across two files.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat, starmap
from pathlib import Path
from typing import IO, NamedTuple

from ykmake.monitoring.logs.lines import Line

__all__ = ["LogWriter", "RotatingFile", "Sink"]


class Sink(NamedTuple):
    """A destination file and the lines it takes."""

    name: str
    min_level: int
    channel: str | None = None  # only lines sent on this channel (exceptions, rejections)


class RotatingFile:
    """A size-rotated append-only file: ``name`` -> ``name.1`` -> ... -> ``name.N``.

    Unbuffered: the writer hands it a whole batch, which goes out in one ``write`` call
    (one syscall, one GIL release) unless the batch crosses the size limit.
    """

    def __init__(self, path: Path, max_bytes: int, backup_count: int) -> None:
        self.path, self.max_bytes, self.backup_count = path, max_bytes, backup_count
        self._fh: IO[bytes] | None = None
        self._size = 0

    def _open(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the writer's life
        self._size = fh.seek(0, os.SEEK_END)
        self._fh = fh
        return fh

    def _rotate(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for i in range(self.backup_count - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def _write_all(self, fh: IO[bytes], data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[fh.write(view) or 0 :]
        self._size += len(data)

    def write_lines(self, lines: list[bytes]) -> None:
        """Append whole lines, rotating before a line that would pass the size limit."""
        fh = self._fh or self._open()
        if self._size + sum(map(len, lines)) <= self.max_bytes:
            self._write_all(fh, b"".join(lines))  # the common case: one call
            return
        chunk: list[bytes] = []
        size = self._size
        for line in lines:
            if size and size + len(line) > self.max_bytes:
                if chunk:
                    self._write_all(fh, b"".join(chunk))
                    chunk = []
                self._rotate()
                fh = self._open()
                size = self._size
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write_all(fh, b"".join(chunk))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


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
    ) -> None:
        self._files: list[tuple[Sink, RotatingFile]] = []
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._files = [
                (s, RotatingFile(log_dir / s.name, max_bytes, backup_count)) for s in sinks
            ]
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
            except Exception as exc:  # noqa: BLE001 - logging must never kill the writer
                sys.stderr.write(f"ykmake log writer: {sink.name}: {exc!r}\n")
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


def _lines_for(sink: Sink, batch: list[Line]) -> list[bytes]:
    """The lines of ``batch`` that ``sink`` takes."""
    if sink.channel is not None:
        return [line.json for line in batch if line.channel == sink.channel]
    return [line.json for line in batch if line.level >= sink.min_level]
