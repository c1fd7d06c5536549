from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from tests.support.logs import read_lines, rotated_files
from ykmake.monitoring.logs.lines import Line
from ykmake.monitoring.logs.writer import LogWriter, Sink


def _writer(tmp_path: Path, max_bytes: int = 4096, backups: int = 5) -> LogWriter:
    return LogWriter(
        tmp_path,
        [Sink("combined.log", 0), Sink("error.log", 40), Sink("exceptions.log", 0, "exceptions")],
        max_bytes=max_bytes,
        backup_count=backups,
    )


def _age(path: Path) -> int:
    suffix = path.name.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


def _all_lines(tmp_path: Path, name: str) -> list[str]:
    """Lines of ``name`` and its backups, oldest first (``.N`` is the oldest)."""
    files = sorted(tmp_path.glob(f"{name}*"), key=_age, reverse=True)
    return [line for f in files for line in f.read_text().splitlines()]


def test_rotation_at_the_size_limit_loses_and_tears_nothing(tmp_path: Path) -> None:
    writer = _writer(tmp_path, max_bytes=4096, backups=50)
    writer.start()
    lines = [json.dumps({"n": i, "pad": "x" * (i % 97)}).encode() + b"\n" for i in range(2000)]

    def submit_all(part: list[bytes]) -> None:
        for line in part:
            writer.submit(Line(20, line, None, None))

    threads = [
        threading.Thread(target=submit_all, args=(part,)) for part in (lines[:1000], lines[1000:])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    files = sorted(tmp_path.glob("combined.log*"))
    assert len(files) > 10, "expected rotation to have happened"
    for f in files:
        assert f.stat().st_size <= 4096
        for line in f.read_text().splitlines():
            json.loads(line)  # no torn line in any file
    numbers = sorted(json.loads(ln)["n"] for ln in _all_lines(tmp_path, "combined.log"))
    assert numbers == list(range(2000))


def test_backup_count_is_honoured(tmp_path: Path) -> None:
    writer = _writer(tmp_path, max_bytes=1024, backups=3)
    writer.start()
    for i in range(500):
        writer.submit(Line(20, b'{"n": %d}\n' % i, None, None))
    writer.close()
    names = sorted(p.name for p in tmp_path.glob("combined.log*"))
    assert names == ["combined.log", "combined.log.1", "combined.log.2", "combined.log.3"]


def test_levels_and_channels_route_to_their_files(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.start()
    writer.submit(Line(20, b'{"e": "info"}\n', None, None))
    writer.submit(Line(40, b'{"e": "error"}\n', None, None))
    writer.submit(Line(50, b'{"e": "crash"}\n', None, "exceptions"))
    writer.close()
    assert _all_lines(tmp_path, "combined.log") == [
        '{"e": "info"}',
        '{"e": "error"}',
        '{"e": "crash"}',
    ]
    assert _all_lines(tmp_path, "error.log") == ['{"e": "error"}', '{"e": "crash"}']
    assert _all_lines(tmp_path, "exceptions.log") == ['{"e": "crash"}']


def test_close_drains_everything_queued(tmp_path: Path) -> None:
    writer = _writer(tmp_path, max_bytes=10_000_000)
    writer.start()
    for i in range(20_000):
        writer.submit(Line(20, b'{"n": %d}\n' % i, None, None))
    writer.close()
    assert len(_all_lines(tmp_path, "combined.log")) == 20_000


def test_lines_after_close_are_written_synchronously(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.start()
    writer.close()
    writer.write(Line(20, b'{"late": true}\n', None, None))
    assert _all_lines(tmp_path, "combined.log") == ['{"late": true}']


def _tagged(who: str, n: int) -> Line:
    return Line(20, json.dumps({"who": who, "n": n}).encode() + b"\n", None, None)


def test_two_writers_on_one_folder_lose_nothing_and_pass_no_limit(tmp_path: Path) -> None:
    """Two processes' writers on the same files (here two in one process: each has its own
    thread, lock file handle and open files, as a process would)."""
    sinks = [Sink("combined.log", 0)]
    writers = {
        who: LogWriter(tmp_path, sinks, max_bytes=2048, backup_count=1000, flush_interval=0.001)
        for who in ("a", "b")
    }

    def submit_all(who: str) -> None:
        for n in range(3000):
            writers[who].submit(_tagged(who, n))

    threads = [threading.Thread(target=submit_all, args=(who,)) for who in writers]
    for writer in writers.values():
        writer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for writer in writers.values():
        writer.close()
    files = rotated_files(tmp_path, "combined.log")  # gapless: none skipped or overwritten
    assert len(files) > 50
    assert max(f.stat().st_size for f in files) <= 2048
    lines = [line for f in files for line in read_lines(f)]
    for who in writers:  # each writer's lines all there, once, in the order it wrote them
        assert [line["n"] for line in lines if line["who"] == who] == list(range(3000))


# Two real processes, each doing once a line what the writer does once a batch: take the
# writers' lock, then write through its own RotatingFile. Once a line, so they interleave (and
# rotate each other's files away) as often as they can.
_TAKING_TURNS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from ykmake.monitoring.logs.lockfile import LOCK_NAME, LockFile
    from ykmake.monitoring.logs.rotating import RotatingFile

    log_dir, who = Path(sys.argv[1]), sys.argv[2]
    turns = LockFile(log_dir / LOCK_NAME)
    log = RotatingFile(log_dir / "combined.log", 2048, 1000)
    print("ready", flush=True)
    sys.stdin.readline()  # both start at once
    for n in range(3000):
        with turns:
            log.write_lines([json.dumps({"who": who, "n": n}).encode() + b"\\n"])
    """
)


def test_two_processes_taking_turns_lose_nothing_and_pass_no_limit(tmp_path: Path) -> None:
    processes = {
        who: subprocess.Popen(
            [sys.executable, "-c", _TAKING_TURNS_SCRIPT, str(tmp_path), who],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    }
    try:
        for process in processes.values():
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
        for process in processes.values():
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.close()
        for process in processes.values():
            assert process.wait(timeout=60) == 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()  # only the processes this test started
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    files = rotated_files(tmp_path, "combined.log")
    assert len(files) > 50
    assert max(f.stat().st_size for f in files) <= 2048
    lines = [line for f in files for line in read_lines(f)]
    for who in processes:
        assert [line["n"] for line in lines if line["who"] == who] == list(range(3000))
