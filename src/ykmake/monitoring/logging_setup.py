"""structlog over stdlib logging, rendered once on the caller's thread, written off-loop.

Files under ``LOG_DIR`` (the seed's winston transports):

========================  ==========================================================
``combined.log``          every line at the configured level
``error.log``             error and above
``exceptions.log``        uncaught exceptions (``sys.excepthook``, ``threading.excepthook``)
``rejections.log``        asyncio exceptions nobody retrieved (unhandled rejections)
========================  ==========================================================
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from ykmake.monitoring.log_writer import LogWriter, Sink
from ykmake.monitoring.redaction import Redactor
from ykmake.monitoring.request_context import merge_request_context

__all__ = ["LoggingConfig", "LoggingRuntime", "configure_logging"]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
CHANNEL_KEY: Final = "_channel"


@dataclass(frozen=True)
class LoggingConfig:
    """The slice of the settings logging needs."""

    service: str = "ykmake"
    env: str = "development"
    level: str = "debug"
    log_dir: Path | None = Path("logs")
    max_bytes: int = 5 * 1024 * 1024
    backup_count: int = 5
    console: bool = False  # colourised human lines on stderr
    json_to_stdout: bool = False
    extra_static: dict[str, Any] = field(default_factory=dict)


Payload = tuple[bytes, str | None, str | None]


class SinkLogger:
    """The structlog "wrapped logger": hands the finished line to the writer, nothing else."""

    __slots__ = ("_writer",)

    def __init__(self, writer: LogWriter) -> None:
        self._writer = writer

    def _emit(self, level: int, payload: Payload) -> None:
        line, text, channel = payload
        self._writer.submit((level, line, text, channel))

    def debug(self, payload: Payload) -> None:
        self._emit(logging.DEBUG, payload)

    def info(self, payload: Payload) -> None:
        self._emit(logging.INFO, payload)

    msg = info

    def warning(self, payload: Payload) -> None:
        self._emit(logging.WARNING, payload)

    warn = warning

    def error(self, payload: Payload) -> None:
        self._emit(logging.ERROR, payload)

    exception = error

    def critical(self, payload: Payload) -> None:
        self._emit(logging.CRITICAL, payload)

    fatal = critical


def _orjson_default(value: Any) -> Any:
    return str(value)


class _Renderer:
    """Final processor: one JSON line for files, and the console text when wanted."""

    def __init__(self, console: bool) -> None:
        self._console = structlog.dev.ConsoleRenderer(colors=True) if console else None
        self._dumps = orjson.dumps
        self._opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS

    def __call__(
        self, _logger: WrappedLogger, _name: str, event_dict: EventDict
    ) -> tuple[tuple[Payload], dict[str, Any]]:
        channel = event_dict.pop(CHANNEL_KEY, None)
        line = self._dumps(event_dict, default=_orjson_default, option=self._opts)
        text = None
        if self._console is not None:
            text = str(self._console(_logger, _name, dict(event_dict)))
        return ((line, text, channel),), {}


def _static_adder(static: dict[str, Any]) -> Processor:
    items = tuple(static.items())

    def add_static(_l: WrappedLogger, _n: str, event_dict: EventDict) -> EventDict:
        for key, value in items:
            event_dict.setdefault(key, value)
        return event_dict

    return add_static


class _ForeignHandler(logging.Handler):
    """Routes stdlib records (uvicorn, SQLAlchemy, alembic, your libraries) into structlog."""

    def __init__(self, runtime: LoggingRuntime) -> None:
        super().__init__()
        self._runtime = runtime

    def emit(self, record: logging.LogRecord) -> None:
        try:
            log = self._runtime.get_logger(record.name)
            kw: dict[str, Any] = {}
            if record.exc_info:
                kw["exc_info"] = record.exc_info
            log.log(record.levelno, record.getMessage(), **kw)
        except Exception:  # noqa: BLE001 - the stdlib contract: never raise from emit
            self.handleError(record)


class LoggingRuntime:
    """The configured pipeline: loggers, the writer thread, the hooks; ``close()`` drains."""

    def __init__(self, config: LoggingConfig) -> None:
        self.config = config
        self.level = LEVELS[config.level]
        sinks = [
            Sink("combined.log", logging.NOTSET),
            Sink("error.log", logging.ERROR),
            Sink("exceptions.log", logging.NOTSET, "exceptions"),
            Sink("rejections.log", logging.NOTSET, "rejections"),
        ]
        self.writer = LogWriter(
            config.log_dir,
            sinks,
            max_bytes=config.max_bytes,
            backup_count=config.backup_count,
            console=sys.stderr if config.console else None,
            json_to_stdout=config.json_to_stdout,
        )
        self.redactor = Redactor()
        self.processors: list[Processor] = [
            merge_request_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _static_adder({"service": config.service, "env": config.env, **config.extra_static}),
            self.redactor,
            structlog.processors.format_exc_info,
            _Renderer(config.console),
        ]
        self._wrapper_class = structlog.make_filtering_bound_logger(self.level)
        self._sink_logger = SinkLogger(self.writer)
        self._saved_hooks: tuple[Any, Any] | None = None
        self._handler: _ForeignHandler | None = None

    def get_logger(self, name: str | None = None, **initial: Any) -> Any:
        """A bound logger on this pipeline (independent of structlog's global config)."""
        log = structlog.wrap_logger(
            self._sink_logger,
            processors=self.processors,
            wrapper_class=self._wrapper_class,
            context_class=dict,
        )
        if name is not None:
            initial.setdefault("logger", name)
        return log.bind(**initial) if initial else log

    # -- installation -------------------------------------------------------------------
    def install(self) -> LoggingRuntime:
        """Start the writer; route structlog, stdlib logging and excepthooks through it."""
        self.writer.start()
        structlog.configure(
            processors=self.processors,
            wrapper_class=self._wrapper_class,
            logger_factory=lambda *_a: self._sink_logger,
            context_class=dict,
            cache_logger_on_first_use=False,
        )
        root = logging.getLogger()
        self._handler = _ForeignHandler(self)
        root.addHandler(self._handler)
        root.setLevel(self.level)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            lg = logging.getLogger(name)
            lg.handlers.clear()
            lg.propagate = True
        logging.getLogger("uvicorn.access").disabled = True  # our access line replaces it
        self._saved_hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        atexit.register(self.close)
        return self

    def close(self) -> None:
        """Restore hooks and drain every queued line to disk."""
        if self._saved_hooks is not None:
            sys.excepthook, threading.excepthook = self._saved_hooks
            self._saved_hooks = None
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None
        atexit.unregister(self.close)
        self.writer.close()

    # -- hooks ----------------------------------------------------------------------------
    def _excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        self.get_logger("ykmake.exceptions").critical(
            "uncaught exception", exc_info=(exc_type, exc, tb), **{CHANNEL_KEY: "exceptions"}
        )
        self.writer.close()  # the interpreter is about to die: get the line on disk now

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        self.get_logger("ykmake.exceptions").critical(
            "uncaught exception in thread",
            thread=args.thread.name if args.thread else None,
            exc_info=exc_info,
            **{CHANNEL_KEY: "exceptions"},
        )

    def asyncio_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: MutableMapping[str, Any]
    ) -> None:
        """For ``loop.set_exception_handler``: Python's unhandled promise rejections."""
        exc = context.get("exception")
        fields = {k: repr(v) for k, v in context.items() if k not in ("exception", "message")}
        log = self.get_logger("ykmake.rejections")
        if isinstance(exc, BaseException):
            log.error(
                context.get("message", "unhandled exception in event loop"),
                exc_info=exc,
                **fields,
                **{CHANNEL_KEY: "rejections"},
            )
        else:
            log.error(
                context.get("message", "event loop error"), **fields, **{CHANNEL_KEY: "rejections"}
            )


def configure_logging(config: LoggingConfig) -> LoggingRuntime:
    """Build and install the pipeline; call ``close()`` on shutdown to drain the writer."""
    return LoggingRuntime(config).install()
