"""Cost of one log line, per route to the file, measured side by side in one run.

Variants, each writing the same access-line fields to a file in a temp dir:

- stdlib: ``QueueHandler`` -> ``QueueListener`` -> ``RotatingFileHandler`` with a JSON
  formatter (the obvious way to keep file I/O off the event loop);
- structlog pipeline: our generic chain (context merge, level, timestamp, redaction,
  orjson) rendered on the caller's thread, bytes handed to the writer thread;
- access line: what the middleware calls, the event dict built directly and handed to the
  chain's own renderer and writer thread.

Medians of interleaved rounds, µs per line. ``uv run python -m benchmarks.bench_logging``.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import queue
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ykmake.monitoring.logs.lines import AccessLog
from ykmake.monitoring.logs.pipeline import LoggingConfig, LoggingRuntime

FIELDS: dict[str, Any] = {
    "method": "GET",
    "path": "/api/products/7",
    "route": "/api/products/{product_id}",
    "status": 200,
    "duration_ms": 1.234,
    "client_ip": "127.0.0.1",
    "user_agent": "bench/1.0",
    "request_id": "0123456789abcdef0123456789abcdef",
}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": self.formatTime(record),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "service": "ykmake",
            **getattr(record, "fields", {}),
        }
        return json.dumps(payload)


def stdlib_variant(directory: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.handlers.RotatingFileHandler(
        directory / "stdlib.log", maxBytes=5 << 20, backupCount=5
    )
    handler.setFormatter(_JsonFormatter())
    listener = logging.handlers.QueueListener(q, handler)
    listener.start()
    logger = logging.getLogger("bench.stdlib")
    logger.handlers[:] = [logging.handlers.QueueHandler(q)]
    logger.propagate = False
    logger.setLevel(logging.INFO)

    def emit() -> None:
        logger.info("request completed", extra={"fields": FIELDS})

    def close() -> None:
        listener.stop()
        handler.close()

    return emit, close


def structlog_variant(directory: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    runtime = LoggingRuntime(LoggingConfig(log_dir=directory / "structlog", level="info"))
    runtime.writer.start()
    log = runtime.get_logger("ykmake.monitoring.access")

    def emit() -> None:
        log.info("request completed", **FIELDS)

    return emit, runtime.close


def access_variant(directory: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    runtime = LoggingRuntime(LoggingConfig(log_dir=directory / "access", level="info"))
    runtime.writer.start()
    access = AccessLog(runtime)
    f = FIELDS

    def emit() -> None:
        access.request(
            f["method"], f["path"], f["route"], f["status"], f["duration_ms"] / 1000,
            f["client_ip"], f["user_agent"], {"request_id": f["request_id"]},
        )  # fmt: skip

    return emit, runtime.close


VARIANTS = {
    "stdlib QueueHandler + JSON formatter": stdlib_variant,
    "structlog pipeline + writer thread": structlog_variant,
    "access line + writer thread": access_variant,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 500 lines")
    args = parser.parse_args()
    rounds, lines = (3, 500) if args.quick else (args.rounds, args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        built = {name: make(Path(tmp)) for name, make in VARIANTS.items()}
        results: dict[str, list[float]] = {name: [] for name in built}
        for _ in range(rounds):
            for name, (emit, _close) in built.items():  # interleaved: same machine state
                start = time.perf_counter()
                for _ in range(lines):
                    emit()
                results[name].append((time.perf_counter() - start) / lines * 1e6)
        for _emit, close in built.values():
            close()
    base = statistics.median(results["stdlib QueueHandler + JSON formatter"])
    print(f"{'variant':46} {'µs/line (median)':>18} {'vs stdlib':>10}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:46} {median:18.1f} {median / base:10.2f}")


if __name__ == "__main__":
    main()
