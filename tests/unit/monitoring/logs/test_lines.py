"""A request's logs: its context, and its one access line with the pipeline's schema."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.logs import read_lines
from ykmake.monitoring.logs.lines import (
    AccessLog,
    bind_request_context,
    end_request,
    get_request_context,
    get_request_id,
    start_request,
)
from ykmake.monitoring.logs.pipeline import LoggingConfig, configure_logging

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
REQUEST: dict[str, Any] = {
    "method": "GET",
    "path": "/api/products/7",
    "route": "/api/products/{product_id}",
    "status": 200,
    "seconds": 0.001234,
    "client_ip": "127.0.0.1",
    "user_agent": 'curl/8 "quoted" ✓ 100%',
}


def logged(
    tmp_path: Path, log: Callable[[AccessLog], object], **config: Any
) -> list[dict[str, Any]]:
    """The lines of combined.log after ``log`` has used an AccessLog (production defaults)."""
    values: dict[str, Any] = {"env": "production", "level": "info", "log_dir": tmp_path}
    runtime = configure_logging(LoggingConfig(**(values | config)))
    log(AccessLog(runtime, "ykmake.monitoring.access"))
    runtime.close()
    return read_lines(tmp_path / "combined.log")


def write(access: AccessLog, context: dict[str, Any], premature: bool = False, **kw: Any) -> None:
    fields = REQUEST | kw
    access.request(
        fields["method"], fields["path"], fields["route"], fields["status"], fields["seconds"],
        fields["client_ip"], fields["user_agent"], context, premature,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("premature", "level", "event"),
    [(False, "info", "request completed"), (True, "warning", "connection closed prematurely")],
)
def test_the_line_has_the_pipeline_schema_in_order(
    tmp_path: Path, premature: bool, level: str, event: str
) -> None:
    lines = logged(
        tmp_path,
        lambda a: write(a, {"request_id": "abc-123", "user_id": 42}, premature),
        service="orders",
        extra_static={"region": "eu-1"},
    )
    (line,) = lines
    assert TIMESTAMP.fullmatch(line.pop("timestamp"))
    assert line == {
        "level": level,
        "event": event,
        "method": "GET",
        "path": "/api/products/7",
        "route": "/api/products/{product_id}",
        "status": 200,
        "duration_ms": 1.234,
        "client_ip": "127.0.0.1",
        "user_agent": 'curl/8 "quoted" ✓ 100%',
        "request_id": "abc-123",
        "user_id": 42,
        "service": "orders",
        "env": "production",
        "region": "eu-1",
        "logger": "ykmake.monitoring.access",
    }
    assert list(line)[:3] == ["level", "event", "method"]


def test_what_a_handler_binds_is_redacted_like_any_other_line(tmp_path: Path) -> None:
    (line,) = logged(tmp_path, lambda a: write(a, {"request_id": "r", "api_token": "s3cret"}))
    assert line["api_token"] == "[REDACTED]"
    assert line["request_id"] == "r"


@pytest.mark.parametrize(
    ("agent", "logged_as"),
    [
        ("probe/1.0 api_key=k-123", "probe/1.0 api_key=[REDACTED]"),
        ("sync-bot xoxb-1-2-abcDEF", "sync-bot [REDACTED]"),
        ("configured-secret-value", "[REDACTED]"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0",
        ),
    ],
)
def test_a_user_agent_carrying_a_secret_is_masked(
    tmp_path: Path, agent: str, logged_as: str
) -> None:
    def log(access: AccessLog) -> None:
        for _ in range(2):  # the second time from the cache: the same answer
            write(access, {"request_id": "r"}, user_agent=agent)

    lines = logged(tmp_path, log, secrets=("configured-secret-value",))
    assert [line["user_agent"] for line in lines] == [logged_as, logged_as]


@pytest.mark.parametrize(
    ("seconds", "duration_ms"), [(0.0, 0.0), (0.0005, 0.5), (0.123456, 123.456), (12.5, 12500.0)]
)
def test_duration_is_milliseconds_to_the_microsecond(
    tmp_path: Path, seconds: float, duration_ms: float
) -> None:
    (line,) = logged(tmp_path, lambda a: write(a, {"request_id": "r"}, seconds=seconds))
    assert line["duration_ms"] == duration_ms


def test_at_warning_level_only_premature_closes_are_written(tmp_path: Path) -> None:
    def log(access: AccessLog) -> None:
        assert not access.enabled
        write(access, {"request_id": "done"})
        write(access, {"request_id": "cut"}, premature=True)

    lines = logged(tmp_path, log, level="warning")
    assert [line["request_id"] for line in lines] == ["cut"]


def test_values_json_cannot_hold_never_break_the_line(tmp_path: Path) -> None:
    context = {"request_id": "r", "order": 2**70, "note": "\udcff lone surrogate"}
    (line,) = logged(tmp_path, lambda a: write(a, context))
    assert line["order"] == str(2**70)
    assert line["note"] == "\\udcff lone surrogate"
    assert line["status"] == 200  # the rest of the line keeps its types


def test_in_development_the_console_gets_the_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = logged(tmp_path, lambda a: write(a, {"request_id": "r"}), console=True)
    assert lines[0]["event"] == "request completed"
    assert "request completed" in capsys.readouterr().err


def test_the_request_context_is_per_request_and_shared_with_handlers() -> None:
    assert get_request_id() is None
    bind_request_context(user_id=1)  # outside a request: nothing to bind to
    assert get_request_context() == {}
    context: dict[str, Any] = {"request_id": "rid-1"}
    token = start_request(context)
    try:
        bind_request_context(user_id=7)
        assert get_request_id() == "rid-1"
        assert get_request_context() == {"request_id": "rid-1", "user_id": 7}
        assert context["user_id"] == 7  # the middleware's own dict: the access line sees it
    finally:
        end_request(token)
    assert get_request_id() is None


def test_the_line_is_one_orjson_object_per_line(tmp_path: Path) -> None:
    def log(access: AccessLog) -> None:
        for n in range(3):
            write(access, {"request_id": f"r{n}"}, path=f"/a\nb/{n}")

    logged(tmp_path, log)
    raw = (tmp_path / "combined.log").read_bytes().splitlines()
    assert [orjson.loads(line)["path"] for line in raw] == ["/a\nb/0", "/a\nb/1", "/a\nb/2"]
