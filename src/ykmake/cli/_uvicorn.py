"""uvicorn as ``ykmake serve`` runs it: on a socket bound beforehand (see :mod:`._listen`),
with the toolkit's header deadline (:mod:`ykmake.monitoring.http.uvicorn_internals`).

:func:`run` is the end of ``uvicorn.run`` given that socket: one process, N workers (each gets
the socket) or the reloader. uvicorn's ``fd=`` option would hand it over too, but uvicorn
rebuilds the socket from the descriptor as ``AF_UNIX`` whatever it is, so each accepted TCP
connection would go without ``TCP_NODELAY`` (asyncio sets it for INET sockets only).
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import ChangeReload, Multiprocess

from ykmake.monitoring.http.uvicorn_internals import HeaderTimeoutProtocol

__all__ = ["ServeConfig", "run"]

_STARTUP_FAILURE = 3  # uvicorn's exit code when the app did not start (its lifespan failed)


class ServeConfig(uvicorn.Config):
    """uvicorn's config plus the header deadline (it travels to the workers with it)."""

    def __init__(self, app: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, http=HeaderTimeoutProtocol, **kwargs)
        self.header_timeout = header_timeout


def run(config: uvicorn.Config, sock: socket.socket) -> None:
    """Serve ``config`` on ``sock`` (bound, not yet listening) as ``uvicorn.run`` would."""
    server = uvicorn.Server(config)
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        elif config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C while starting: uvicorn.run swallows it too
        pass
    finally:
        sock.close()
    if not server.started and not config.should_reload and config.workers == 1:
        raise SystemExit(_STARTUP_FAILURE)  # uvicorn has logged why
