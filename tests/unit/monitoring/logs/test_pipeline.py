from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.logs import read_lines
from ykmake.monitoring.logs.lines import bind_request_context, end_request, start_request
from ykmake.monitoring.logs.pipeline import LoggingConfig, LoggingRuntime, configure_logging

REQUIRED = {"timestamp", "level", "event", "service", "env"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LoggingRuntime]:
    rt = configure_logging(LoggingConfig(env="test", level="debug", log_dir=tmp_path))
    yield rt
    rt.close()


def test_every_line_is_json_with_the_standard_fields(
    runtime: LoggingRuntime, tmp_path: Path
) -> None:
    log = runtime.get_logger("t")
    log.debug("d", n=1)
    log.info("i")
    log.warning("w")
    log.error("e")
    runtime.close()
    lines = read_lines(tmp_path / "combined.log")
    assert [ln["event"] for ln in lines] == ["d", "i", "w", "e"]
    for line in lines:
        assert line.keys() >= REQUIRED
        assert line["service"] == "ykmake"
        assert line["env"] == "test"
        assert line["timestamp"].endswith("Z")
    assert [ln["event"] for ln in read_lines(tmp_path / "error.log")] == ["e"]


def test_level_filters_what_is_written(tmp_path: Path) -> None:
    rt = configure_logging(LoggingConfig(level="info", log_dir=tmp_path))
    log = rt.get_logger("t")
    log.debug("hidden")
    log.info("shown")
    rt.close()
    assert [ln["event"] for ln in read_lines(tmp_path / "combined.log")] == ["shown"]


def test_request_context_is_bound_into_lines(runtime: LoggingRuntime, tmp_path: Path) -> None:
    token = start_request({"request_id": "rid-1"})
    try:
        bind_request_context(user_id=7)
        runtime.get_logger("t").info("inside")
    finally:
        end_request(token)
    runtime.get_logger("t").info("outside")
    runtime.close()
    inside, outside = read_lines(tmp_path / "combined.log")
    assert inside["request_id"] == "rid-1"
    assert inside["user_id"] == 7
    assert "request_id" not in outside


def test_secrets_are_redacted_at_any_depth(runtime: LoggingRuntime, tmp_path: Path) -> None:
    runtime.get_logger("t").info(
        "login",
        password="hunter2",
        request={"headers": {"Authorization": "Bearer abc", "Cookie": "sid=1"}},
        items=[{"api_key": "k"}],
    )
    runtime.close()
    text = (tmp_path / "combined.log").read_text()
    for secret in ("hunter2", "Bearer abc", "sid=1", '"k"'):
        assert secret not in text


WEBHOOK = "http://127.0.0.1:9/services/T1/B1/X1"


def test_the_exception_text_is_scrubbed_too(tmp_path: Path) -> None:
    rt = configure_logging(LoggingConfig(log_dir=tmp_path, secrets=(WEBHOOK,)))
    body = {"name": "x", "password": "hunter2"}
    try:
        raise ValueError(f"cannot store {body} at postgresql://app:pg-pass@db/app")
    except ValueError:
        rt.get_logger("t").exception("failed")
    rt.close()
    text = (tmp_path / "error.log").read_text()
    assert "ValueError: cannot store {'name': 'x', 'password': '[REDACTED]'}" in text
    assert "postgresql://app:[REDACTED]@db/app" in text
    assert "hunter2" not in text
    assert "pg-pass" not in text


def test_a_librarys_own_lines_are_scrubbed_on_every_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What slack_sdk writes at DEBUG before each webhook call: the URL is itself the secret.
    rt = configure_logging(
        LoggingConfig(level="debug", log_dir=tmp_path, console=True, secrets=(WEBHOOK,))
    )
    logging.getLogger("slack_sdk.webhook.async_client").debug(
        "Sending a request - url: %s, body: %s", WEBHOOK, '{"text": "hi"}'
    )
    rt.close()
    (line,) = read_lines(tmp_path / "combined.log")
    assert line["event"] == 'Sending a request - url: [REDACTED], body: {"text": "hi"}'
    console = capsys.readouterr().err
    assert "Sending a request - url: [REDACTED]" in console
    assert WEBHOOK not in console


def test_a_config_never_shows_its_secrets() -> None:
    assert WEBHOOK not in repr(LoggingConfig(secrets=(WEBHOOK,)))


def test_stdlib_logging_goes_through_the_pipeline(runtime: LoggingRuntime, tmp_path: Path) -> None:
    logging.getLogger("some.library").warning("careful %s", "now", extra={})
    runtime.close()
    (line,) = read_lines(tmp_path / "combined.log")
    assert line["event"] == "careful now"
    assert line["logger"] == "some.library"
    assert line["level"] == "warning"


def test_exception_traceback_is_in_error_log(runtime: LoggingRuntime, tmp_path: Path) -> None:
    try:
        raise ValueError("bad thing")
    except ValueError:
        runtime.get_logger("t").exception("failed")
    runtime.close()
    (line,) = read_lines(tmp_path / "error.log")
    assert "Traceback" in line["exception"]
    assert "ValueError: bad thing" in line["exception"]


def test_uncaught_exception_goes_to_exceptions_log(runtime: LoggingRuntime, tmp_path: Path) -> None:
    try:
        raise KeyError("lost")
    except KeyError:
        sys.excepthook(*sys.exc_info())  # what the interpreter calls for an uncaught exception
    (line,) = read_lines(tmp_path / "exceptions.log")
    assert line["event"] == "uncaught exception"
    assert "KeyError" in line["exception"]


def test_thread_exception_goes_to_exceptions_log(runtime: LoggingRuntime, tmp_path: Path) -> None:
    def boom() -> None:
        raise RuntimeError("in a thread")

    thread = threading.Thread(target=boom, name="worker-x")
    thread.start()
    thread.join()
    runtime.close()
    (line,) = read_lines(tmp_path / "exceptions.log")
    assert line["thread"] == "worker-x"
    assert "RuntimeError: in a thread" in line["exception"]


def test_unretrieved_task_exception_goes_to_rejections_log(
    runtime: LoggingRuntime, tmp_path: Path
) -> None:
    async def fail() -> None:
        raise LookupError("nobody awaited me")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(runtime.asyncio_exception_handler)
        task = asyncio.get_running_loop().create_task(fail())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert task.done()
        del task
        gc.collect()  # the "exception was never retrieved" report happens at collection

    asyncio.run(main())
    runtime.close()
    (line,) = read_lines(tmp_path / "rejections.log")
    assert line["event"] == "Task exception was never retrieved"
    assert "LookupError: nobody awaited me" in line["exception"]


def test_json_to_stdout(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    rt = configure_logging(LoggingConfig(log_dir=None, json_to_stdout=True))
    rt.get_logger("t").info("to stdout")
    rt.close()
    out = capfd.readouterr().out
    assert '"event":"to stdout"' in out
