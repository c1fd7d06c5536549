"""The access line: the per-route path writes what the dict path writes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.logs import read_lines
from ykmake.monitoring.access_log import AccessLog
from ykmake.monitoring.logging_setup import LoggingConfig, configure_logging

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
BASE = {
    "method": "GET",
    "path": "/api/products/7",
    "route": "/api/products/{product_id}",
    "status": 200,
    "duration_ms": 1.234,
    "client_ip": "127.0.0.1",
    "user_agent": 'curl/8 "quoted" ✓ 100%',
    "request_id": "abc-123",
}
CASES: list[dict[str, Any]] = [
    BASE,
    {**BASE, "user_id": 42},
    {**BASE, "user_agent": None, "path": "/100%25/%s"},
    {**BASE, "token": "secret-value"},  # bound by a handler: takes the redacting path
]


def logged_lines(
    tmp_path: Path, extra_static: dict[str, Any], log: Callable[[AccessLog], object]
) -> list[str]:
    """The raw lines of combined.log after ``log`` has used a production AccessLog."""
    config = LoggingConfig(
        env="production", level="info", log_dir=tmp_path, extra_static=extra_static
    )
    runtime = configure_logging(config)
    log(AccessLog(runtime))
    runtime.close()
    return (tmp_path / "combined.log").read_text(encoding="utf-8").splitlines()


def write_lines(
    tmp_path: Path,
    extra_static: dict[str, Any],
    premature: bool,
    cases: list[dict[str, Any]] = CASES,
) -> list[str]:
    def log(access: AccessLog) -> None:
        for fields in cases:
            (access.premature if premature else access.completed)(dict(fields))

    return logged_lines(tmp_path, extra_static, log)


@pytest.mark.parametrize("premature", [False, True])
@pytest.mark.parametrize("extra_static", [{}, {"region": "eu-%s-1"}])
def test_every_line_has_the_schema_in_order(
    tmp_path: Path, extra_static: dict[str, Any], premature: bool
) -> None:
    raw = write_lines(tmp_path, extra_static, premature)
    lines = read_lines(tmp_path / "combined.log")
    assert len(lines) == len(CASES)
    level, event = (
        ("warning", "connection closed prematurely") if premature else ("info", "request completed")
    )
    static = {"service": "ykmake", "env": "production", "logger": "ykmake.access", **extra_static}
    for fields, line, text in zip(CASES, lines, raw, strict=True):
        expected = {"level": level, "event": event, **fields, **static}
        if "token" in fields:
            expected["token"] = "[REDACTED]"
        timestamp = line.pop("timestamp")
        assert TIMESTAMP.fullmatch(timestamp)
        assert list(line) == list(expected)  # same keys, same order as the dict path
        assert line == expected
        assert text.encode() == orjson.dumps({"timestamp": timestamp, **expected})  # same bytes


def request_lines(tmp_path: Path, extra_static: dict[str, Any], premature: bool) -> list[str]:
    """The same CASES through `AccessLog.request`, the middleware's per-route path."""

    def log(access: AccessLog) -> None:
        for fields in [*CASES, {**BASE, "method": "PURGE%s"}]:  # a client's odd method too
            ua = fields["user_agent"]
            ctx = {k: v for k, v in fields.items() if k not in BASE or k == "request_id"}
            for _ in range(2):  # the second time from the cached parts
                access.request(
                    fields["method"], fields["route"], fields["status"], fields["path"],
                    fields["duration_ms"] / 1000, fields["client_ip"],
                    ua.encode("utf-8") if ua else None, ctx, premature,
                )  # fmt: skip

    return logged_lines(tmp_path, extra_static, log)


@pytest.mark.parametrize("premature", [False, True])
@pytest.mark.parametrize("extra_static", [{}, {"region": "eu-%s-1"}])
def test_the_per_route_path_writes_the_same_bytes(
    tmp_path: Path, extra_static: dict[str, Any], premature: bool
) -> None:
    # A header arrives as bytes, read as latin-1 (as the middleware does).
    as_received = [
        {**f, "user_agent": f["user_agent"].encode().decode("latin-1")} if f["user_agent"] else f
        for f in CASES
    ]
    by_dict = write_lines(tmp_path / "dict", extra_static, premature, as_received)
    by_route = request_lines(tmp_path / "route", extra_static, premature)
    expected = [line for line in by_dict for _ in range(2)]
    odd = orjson.loads(by_dict[0])
    odd["method"] = "PURGE%s"
    expected += [orjson.dumps(odd).decode()] * 2
    assert len(by_route) == len(expected)
    for got, want in zip(by_route, expected, strict=True):
        # identical but for the time each was written
        stamp = TIMESTAMP.search(got)
        assert stamp is not None
        assert TIMESTAMP.sub(stamp.group(), want, count=1) == got


def test_durations_and_times_are_written_as_orjson_writes_them(tmp_path: Path) -> None:
    # Numbers come from lookup tables below one second: every table entry, and the
    # larger durations that are rendered the long way, read back as orjson writes them.
    micros = [*range(0, 1_000_000, 997), 999_999, 1_000_000, 1_000_001, 12_345_678, 7, 500]
    before = time.time()

    def log(access: AccessLog) -> None:
        for us in micros:
            access.request("GET", "/r", 200, "/r", us / 1e6, "::1", None, {"request_id": "x"})

    lines = logged_lines(tmp_path, {}, log)
    after = time.time()
    assert len(lines) == len(micros)
    for us, line in zip(micros, lines, strict=True):
        assert f',"duration_ms":{orjson.dumps(round(us) / 1000).decode()},' in line
        stamp = orjson.loads(line)["timestamp"]
        written = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        assert before - 1e-6 <= written <= after + 1e-6
