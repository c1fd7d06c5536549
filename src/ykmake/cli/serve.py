"""``ykmake serve``: the YkMake service under uvicorn, in one process, N workers or with reload.

Before anything starts, the bind is checked (a network address only in production: see
:mod:`._listen`), the port is bound (a port in use is one line naming it), the database is
checked and migrated and logging starts (a wrong ``DATABASE_URL`` or ``LOG_DIR`` is one line):
each failure is exit code 2. Then one line says where the service listens and where its logs
go. Connections that never finish their request's headers are closed after
``--header-timeout`` seconds (see :mod:`._uvicorn`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ykmake.cli._shared import cli_settings, err_console, fail, open_database_or_fail

if TYPE_CHECKING:
    from ykmake.settings import Settings

__all__ = ["ServeMode", "serve", "serving_line"]

# Each worker (and each reload) imports this and builds its own app from the environment.
_APP_IMPORT = "ykmake.app.asgi:app"


@dataclass(frozen=True)
class ServeMode:
    """How uvicorn runs the app: one process, several workers, or reloading on changes."""

    host: str
    port: int
    workers: int = 1
    reload: bool = False

    @property
    def in_process(self) -> bool:
        """One process, the app built here (workers and reload import it themselves)."""
        return self.workers == 1 and not self.reload

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return f"http://{host}:{self.port}"

    def describe(self) -> str | None:
        if self.reload:
            return "reloading on code changes"
        return f"{self.workers} workers" if self.workers > 1 else None


def _shown(path: Path) -> str:
    """A log dir as people write it: ``./logs`` for a relative one."""
    return str(path) if path.is_absolute() or str(path).startswith(".") else f"./{path}"


def serving_line(mode: ServeMode, settings: Settings) -> str:
    """``serving YkMake on http://127.0.0.1:8000 (2 workers; logs in ./logs)``."""
    from ykmake.monitoring.setup import logging_config

    config = logging_config(settings)
    logs = f"logs in {_shown(settings.log_dir)}"
    if config.console:
        logs += " and on stderr"
    if config.json_to_stdout:
        logs += " and as JSON on stdout"
    details = "; ".join(d for d in (mode.describe(), logs) if d)
    return f"serving YkMake on {mode.url} ({details})"


def _prepare(mode: ServeMode, settings: Settings) -> Any:
    """What uvicorn runs: this process's app, or the import string its children load."""
    if mode.workers > 1:
        from ykmake.monitoring.metrics.multiprocess import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings.prometheus_multiproc_dir)
    if mode.in_process:
        from ykmake.app.main import create_app

        return create_app(settings)
    # uvicorn's supervisor logs too ("Started parent process", "Stopping reloader"): route it
    # into the same files as the workers' lines. Its children are spawned, not forked, so
    # they start their own writer.
    from ykmake.monitoring.logs.pipeline import configure_logging
    from ykmake.monitoring.setup import logging_config

    configure_logging(logging_config(settings))
    # watchfiles logs every change it sees, log files included: with the log dir under the
    # watched one, each such line would be a change again, a line a few times a second.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    return _APP_IMPORT


def serve(
    host: Annotated[
        str,
        typer.Option(
            metavar="HOST", help="Interface to bind (not loopback: production settings only)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")
    ] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, metavar="N", help="Worker processes.")] = 1,
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=3600,
            metavar="SECONDS",
            help="Close a connection whose request headers are not all in after SECONDS "
            "(from its opening or its last response).",
        ),
    ] = 10.0,
) -> None:
    """Run the YkMake service (the database is checked and migrated first)."""
    from ykmake.cli._listen import listen_socket, network_bind_refusal
    from ykmake.cli._uvicorn import ServeConfig, run
    from ykmake.errors import StartupError

    settings = cli_settings()
    refusal = network_bind_refusal(host, settings)
    if refusal is not None:
        fail(refusal)
    mode = ServeMode(host, port, workers, reload)
    try:
        sock = listen_socket(host, port)
    except StartupError as exc:
        fail(str(exc))
    try:
        # Migrated here, once, before any worker starts: N workers migrating at once would race.
        open_database_or_fail(settings, migrate=settings.database_auto_migrate).dispose()
        target = _prepare(mode, settings)
    except StartupError as exc:  # logging could not start (LOG_DIR)
        sock.close()
        fail(str(exc))
    except BaseException:
        sock.close()
        raise
    err_console.print(serving_line(mode, settings), highlight=False)
    config = ServeConfig(
        target,
        header_timeout=header_timeout,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured only from TRUSTED_PROXIES
        server_header=False,
    )
    run(config, sock)
