from __future__ import annotations

import json
import threading
from pathlib import Path

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
