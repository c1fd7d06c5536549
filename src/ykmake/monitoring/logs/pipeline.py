"""structlog over stdlib logging, rendered once on the caller's thread, written off-loop.

Files under ``LOG_DIR`` (the seed's winston transports):

========================  ==========================================================
``combined.log``          every line at the configured level
``error.log``             error and above
``exceptions.log``        uncaught exceptions (``sys.excepthook``, ``threading.excepthook``)
``rejections.log``        asyncio exceptions nobody retrieved (unhandled rejections)
========================  ==========================================================

The chain: request context → level → timestamp → static fields (``service``, ``env``) →
exception text → redaction → :class:`~.lines.LineRenderer` → the writer thread. Redaction
comes after the traceback is rendered, so the exception text is scrubbed like any other
value (a password in an exception's message included), and every line goes through it:
structlog's, stdlib's (uvicorn, SQLAlchemy, slack_sdk's debug lines) and the hooks'.
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
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from ykmake.monitoring.logs.lines import (
    CHANNEL_KEY,
    LEVELS,
    TOOLKIT_FIELDS,
    Line,
    LineRenderer,
    add_timestamp,
    merge_request_context,
)
from ykmake.monitoring.logs.redaction import Redactor
from ykmake.monitoring.logs.writer import LogWriter, Sink

__all__ = ["LoggingConfig", "LoggingRuntime", "configure_logging"]

# uvicorn's own access log is replaced by the access line; its other loggers are kept.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


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
    # The configured secrets' values, masked wherever they appear; never in a repr.
    secrets: tuple[str, ...] = field(default=(), repr=False)


class SinkLogger:
    """The structlog "wrapped logger": hands the rendered line to the writer, nothing else."""

    __slots__ = ("_writer",)

    def __init__(self, writer: LogWriter) -> None:
        self._writer = writer

    def _write(self, line: Line) -> None:
        self._writer.write(line)

    # The level is in the line already; structlog calls the method named after it.
    debug = info = warning = error = critical = _write


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
        self.static_fields = {"service": config.service, "env": config.env, **config.extra_static}
        self.writer = LogWriter(
            config.log_dir,
            [
                Sink("combined.log", logging.NOTSET),
                Sink("error.log", logging.ERROR),
                Sink("exceptions.log", logging.NOTSET, "exceptions"),
                Sink("rejections.log", logging.NOTSET, "rejections"),
            ],
            max_bytes=config.max_bytes,
            backup_count=config.backup_count,
            console=sys.stderr if config.console else None,
            json_to_stdout=config.json_to_stdout,
        )
        # What the chain fills in itself is never scanned for secrets: it has none.
        trusted = (
            "timestamp",
            "level",
            "logger",
            "request_id",
            *TOOLKIT_FIELDS,
            *self.static_fields,
        )
        self.redactor = Redactor(secrets=config.secrets, trusted_keys=trusted)
        self.renderer = LineRenderer(config.console)
        self.processors: list[Processor] = [
            merge_request_context,
            structlog.processors.add_log_level,
            add_timestamp,
            _static_adder(self.static_fields),
            structlog.processors.format_exc_info,
            self.redactor,
            self.renderer,
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
        for name in _UVICORN_LOGGERS:
            stdlib_logger = logging.getLogger(name)
            stdlib_logger.handlers.clear()
            stdlib_logger.propagate = True
        logging.getLogger("uvicorn.access").disabled = True
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
        self.get_logger("ykmake.monitoring.exceptions").critical(
            "uncaught exception", exc_info=(exc_type, exc, tb), **{CHANNEL_KEY: "exceptions"}
        )
        self.writer.close()  # the interpreter is about to die: get the line on disk now

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        self.get_logger("ykmake.monitoring.exceptions").critical(
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
        fields: dict[str, Any] = {
            k: repr(v) for k, v in context.items() if k not in ("exception", "message")
        }
        message = context.get("message", "unhandled exception in event loop")
        if isinstance(exc, BaseException):
            fields["exc_info"] = exc  # format_exc_info renders the traceback
        self.get_logger("ykmake.monitoring.rejections").error(
            message, **fields, **{CHANNEL_KEY: "rejections"}
        )


def configure_logging(config: LoggingConfig) -> LoggingRuntime:
    """Build and install the pipeline; call ``close()`` on shutdown to drain the writer."""
    return LoggingRuntime(config).install()
