"""A full disk costs log lines, never the shape of the files: no torn half-line is left
behind, stderr hears once that lines are dropped and once that they are written again, a
metric counts them, and whole lines follow once there is room."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO, cast

import pytest

from tests.support.server import wait_until
from ykmake.monitoring.logs.lines import Line
from ykmake.monitoring.logs.writer import LogWriteError, LogWriter, RotatingFile, Sink, open_append
from ykmake.monitoring.settings import MonitoringSettings
from ykmake.monitoring.setup import Monitoring


class Disk:
    """A filesystem with ``free`` bytes left (None: plenty). Like a real one, a write that
    does not fit writes what fits and says so; the next one fails with ENOSPC."""

    def __init__(self) -> None:
        self.free: int | None = None

    def open(self, path: Path) -> IO[bytes]:
        return cast(IO[bytes], _OnDisk(open_append(path), self))  # the methods a writer calls


class _OnDisk:
    """A real unbuffered file whose writes go through a :class:`Disk`'s free space."""

    def __init__(self, real: IO[bytes], disk: Disk) -> None:
        self._real, self._disk = real, disk

    def write(self, data: bytes | memoryview) -> int:
        free = self._disk.free
        if free is None:
            return self._real.write(data)
        if free == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self._real.write(data[:free])
        self._disk.free = free - written
        return written

    def __getattr__(self, name: str) -> object:  # tell, seek, fileno, close
        return getattr(self._real, name)


def _line(n: int) -> bytes:
    return json.dumps({"n": n, "event": "x" * 40}).encode() + b"\n"


def _numbers(path: Path) -> list[int]:
    """The ``n`` of every line; fails on a line that is not whole JSON."""
    return [json.loads(line)["n"] for line in path.read_text().splitlines()]


def test_a_write_that_runs_out_of_space_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    disk = Disk()
    log = RotatingFile(tmp_path / "combined.log", 1_000_000, 3, opener=disk.open)
    log.write_lines([_line(0), _line(1)])
    disk.free = len(_line(2)) + 7  # room for one line and a bit of the next
    with pytest.raises(LogWriteError) as failed:
        log.write_lines([_line(2), _line(3), _line(4)])
    assert failed.value.dropped == 3
    assert failed.value.reason == os.strerror(errno.ENOSPC)
    assert _numbers(tmp_path / "combined.log") == [0, 1]

    disk.free = None  # space is back
    log.write_lines([_line(5)])
    log.close()
    assert _numbers(tmp_path / "combined.log") == [0, 1, 5]


def test_lines_written_before_a_rotation_stay_when_the_next_file_fails(tmp_path: Path) -> None:
    disk = Disk()
    size = len(_line(0))
    log = RotatingFile(tmp_path / "combined.log", 2 * size, 3, opener=disk.open)
    disk.free = 2 * size + 5  # the first file fills up; the rotated one tears mid-line
    with pytest.raises(LogWriteError) as failed:
        log.write_lines([_line(n) for n in range(4)])
    assert failed.value.dropped == 2
    assert _numbers(tmp_path / "combined.log.1") == [0, 1]
    assert _numbers(tmp_path / "combined.log") == []


def _submit(writer: LogWriter, numbers: range) -> None:
    for n in numbers:
        writer.submit(Line(40, _line(n), None, None))  # errors: combined.log and error.log


def test_the_writer_drops_counts_and_says_so_once_each_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = Disk()
    counted = {"combined.log": 0, "error.log": 0}

    def count(name: str, lines: int) -> None:
        counted[name] += lines

    def accounted_for() -> int:
        """Lines of combined.log written or dropped (counted in whole lines, as they land)."""
        return (tmp_path / "combined.log").read_bytes().count(b"\n") + counted["combined.log"]

    sinks = [Sink("combined.log", 0), Sink("error.log", 40)]
    writer = LogWriter(
        tmp_path, sinks, max_bytes=1_000_000, backup_count=3, opener=disk.open, flush_interval=0.005
    )
    writer.count_drops(count)
    writer.start()
    try:
        _submit(writer, range(100))
        wait_until(lambda: accounted_for() == 100)
        disk.free = 3 * len(_line(0)) + 11  # three more lines fit, then a torn fourth
        for start in range(100, 2100, 100):  # batch after batch while the disk is full
            _submit(writer, range(start, start + 100))
            wait_until(lambda end=start + 100: accounted_for() == end)  # type: ignore[misc]
        disk.free = None  # space is back
        _submit(writer, range(5000, 5010))
        wait_until(lambda: accounted_for() == 2110)
    finally:
        writer.close()

    combined = _numbers(tmp_path / "combined.log")  # every line whole
    assert _numbers(tmp_path / "error.log") == combined
    assert combined == [*range(100), *range(5000, 5010)]
    assert counted == {"combined.log": 2000, "error.log": 2000}
    said = [line for line in capsys.readouterr().err.splitlines() if line]
    assert said == [
        f"ykmake log writer: cannot write combined.log ({os.strerror(errno.ENOSPC)}): "
        "dropping log lines until it can",
        "ykmake log writer: writing log lines again; 4000 were dropped",
    ]


def test_monitoring_counts_dropped_lines_in_a_metric(tmp_path: Path) -> None:
    settings = MonitoringSettings(_env_file=None, environment="test", log_dir=tmp_path / "logs")
    mon = Monitoring(settings)
    try:
        mon.logging.writer.dropped.dropped("combined.log", 7, "No space left on device")
    finally:
        mon.close()
    sample = mon.metrics.registry.get_sample_value(
        "ykmake_log_lines_dropped_total", {"file": "combined.log"}
    )
    assert sample == 7


# A real kernel refusing writes, with no root and no mount: RLIMIT_FSIZE caps how large a file
# this process may make. Past the cap a write is cut short and the next one fails (EFBIG), as
# on a full disk; raising the cap again is space coming back.
_FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    from ykmake.monitoring.logs.lines import Line
    from ykmake.monitoring.logs.writer import LogWriter, Sink

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error return instead of a signal
    log_dir = Path(sys.argv[1])
    writer = LogWriter(log_dir, [Sink("combined.log", 0)], max_bytes=10**9, backup_count=2)
    writer.close()  # from now on each write() goes to disk at once: one line, one batch
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4000, hard))
    for n in range(200):
        line = json.dumps({"n": n, "pad": "x" * 40}).encode() + b"\\n"
        writer.write(Line(20, line, None, None))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    writer.write(Line(20, b'{"n": "after"}\\n', None, None))
    """
)


def test_a_real_file_size_limit_leaves_whole_lines(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(ln) for ln in (tmp_path / "combined.log").read_text().splitlines()]
    numbers = [line["n"] for line in lines]
    assert numbers[-1] == "after"
    assert numbers[:-1] == list(range(len(numbers) - 1))  # a prefix, none torn or skipped
    assert 0 < len(numbers) - 1 < 200
    said = done.stderr.splitlines()
    assert len(said) == 2, done.stderr
    assert said[0].startswith("ykmake log writer: cannot write combined.log (File too large)")
    assert (
        said[1] == f"ykmake log writer: writing log lines again; {201 - len(numbers)} were dropped"
    )
