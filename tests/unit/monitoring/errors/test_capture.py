"""``capture_error``'s own fields: context and extra, in the error line."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from ykmake.monitoring.errors.capture import ErrorMonitor


def test_extra_fields_join_the_line_and_the_context_wins_on_a_shared_key() -> None:
    monitor = ErrorMonitor(structlog.get_logger("test"))
    with capture_logs() as logs:
        monitor.capture_error(
            ValueError("card declined"),
            {"status_code": 502},
            extra={"order_id": 7, "status_code": 200},
        )
        monitor.flush()
    (line,) = logs
    assert (line["event"], line["order_id"], line["status_code"]) == ("card declined", 7, 502)


def test_a_caller_field_named_like_the_lines_own_does_not_cost_the_line() -> None:
    monitor = ErrorMonitor(structlog.get_logger("test"))
    with capture_logs() as logs:
        for _ in range(2):  # the first line, with its traceback, then a repeat's
            monitor.capture_error(
                ValueError("card declined"), extra={"event": "mine", "error_type": "mine"}
            )
            monitor.flush()
    assert [(ln["event"], ln["error_type"], ln.get("repeat")) for ln in logs] == [
        ("card declined", "ValueError", None),
        ("card declined", "ValueError", True),
    ]
