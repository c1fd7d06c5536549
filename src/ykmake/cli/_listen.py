"""Where ``ykmake serve`` may listen, and the socket it listens on.

Development's conveniences — ``/metrics`` without a token for loopback peers, the debug
routes — are safe only on a loopback bind. Bound to a network, the same defaults would serve
``/api/debug/error`` (a 500, an error alert, a Sentry event per call) to anyone who can reach
the port, and ``/metrics`` to anyone a reverse proxy on the host forwards without its headers,
so ``serve`` refuses, and says how to proceed: ``YKMAKE_ENV=production`` (a token for
``/metrics``, no debug routes) or a loopback ``--host``.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

from ykmake.errors import StartupError
from ykmake.monitoring.http.auth import is_loopback

if TYPE_CHECKING:
    from ykmake.settings import Settings

__all__ = ["listen_socket", "network_bind_refusal"]


def network_bind_refusal(host: str, settings: Settings) -> str | None:
    """Why ``host`` may not be bound with these settings; None when it may."""
    if settings.is_production or is_loopback(host):
        return None
    return (
        f"--host {host or '(all interfaces)'} is not a loopback address, and with "
        f"YKMAKE_ENV={settings.environment} the debug routes are on and /metrics needs no "
        "token from loopback: set YKMAKE_ENV=production to serve a network, "
        "or use --host 127.0.0.1"
    )


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, inheritable (for uvicorn's workers).

    Raises:
        StartupError: the address can't be bound (naming the port and the reason).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart need not wait out the old connections' TIME_WAIT. It
        # does not let two servers listen on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(_cannot_bind(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _cannot_bind(host: str, port: int, exc: OSError) -> str:
    shown = f"[{host}]" if ":" in host else host
    if exc.errno == errno.EADDRINUSE:
        return f"--port {port}: {shown}:{port} is in use; stop what listens there or pick another"
    reason = exc.strerror or str(exc)
    return f"--port {port}: cannot listen on {shown}:{port}: {reason}"
