"""Several processes on the same files, one batch at a time (as the writers' lock makes them
take turns): each starts from the files on disk. Two ``RotatingFile``s in one process stand in
for two processes — each has its own open file, as a process would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.logs import read_lines, rotated_files
from ykmake.monitoring.logs.rotating import RotatingFile


def _line(n: int) -> bytes:
    return json.dumps({"n": f"{n:05d}", "pad": "x" * 40}).encode() + b"\n"  # all one size


SIZE = len(_line(0))


def _numbers(path: Path) -> list[int]:
    return [int(line["n"]) for line in read_lines(path)]


def test_a_file_another_process_rotated_away_is_opened_again(tmp_path: Path) -> None:
    path = tmp_path / "combined.log"
    first, second = (RotatingFile(path, 3 * SIZE, 10) for _ in range(2))
    first.write_lines([_line(0)])
    second.write_lines([_line(1)])  # both now have combined.log open
    first.write_lines([_line(2), _line(3)])  # fills it, rotates it to combined.log.1
    second.write_lines([_line(4)])  # the file it had open is combined.log.1 now: not there
    first.close()
    second.close()
    assert _numbers(tmp_path / "combined.log.1") == [0, 1, 2]
    assert _numbers(path) == [3, 4]


def test_the_size_limit_counts_every_process_lines(tmp_path: Path) -> None:
    path = tmp_path / "combined.log"
    writers = [RotatingFile(path, 4 * SIZE, 20) for _ in range(2)]
    for n in range(40):
        writers[n % 2].write_lines([_line(n)])  # each sees half the lines go by
    for writer in writers:
        writer.close()
    files = rotated_files(tmp_path, "combined.log")
    assert [p.stat().st_size for p in files] == [4 * SIZE] * 10  # full files, none over
    assert [n for p in files for n in _numbers(p)] == list(range(40))  # none skipped or lost


def test_a_batch_that_would_pass_the_limit_rotates_first_even_after_another_wrote(
    tmp_path: Path,
) -> None:
    path = tmp_path / "combined.log"
    first, second = (RotatingFile(path, 5 * SIZE, 10) for _ in range(2))
    first.write_lines([_line(0), _line(1)])
    second.write_lines([_line(2), _line(3), _line(4)])  # full now
    first.write_lines([_line(5), _line(6)])  # its own count says 2 lines: the disk says 5
    first.close()
    second.close()
    assert _numbers(tmp_path / "combined.log.1") == [0, 1, 2, 3, 4]
    assert _numbers(path) == [5, 6]
