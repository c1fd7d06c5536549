"""``ykmake serve``: the YkMake service under uvicorn, in one process, N workers or with reload.

The database is checked (and migrated) before anything starts, so a wrong ``DATABASE_URL`` is
one line and exit code 2; then one line says where the service listens and where its logs go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ykmake.cli._shared import cli_settings, err_console, open_database_or_fail

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
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")
    ] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, metavar="N", help="Worker processes.")] = 1,
) -> None:
    """Run the YkMake service (the database is checked and migrated first)."""
    import uvicorn

    settings = cli_settings()
    # Migrated here, once, before any worker starts: N workers migrating at once would race.
    open_database_or_fail(settings, migrate=settings.database_auto_migrate).dispose()
    mode = ServeMode(host, port, workers, reload)
    target = _prepare(mode, settings)
    err_console.print(serving_line(mode, settings), highlight=False)
    uvicorn.run(
        target,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured only from TRUSTED_PROXIES
        server_header=False,
    )
