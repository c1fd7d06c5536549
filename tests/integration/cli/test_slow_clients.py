"""``ykmake serve`` closes connections that never finish their request's headers, after
``--header-timeout`` seconds, and goes on answering everyone else meanwhile."""

from __future__ import annotations

import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.cli.support import serving

pytestmark = pytest.mark.integration

SOCKETS = 500
HEADER_TIMEOUT = 2.0
SLACK = 15.0  # how late past the bound a close may come on a loaded CI machine
EARLY = 0.05  # asyncio runs a timer up to its clock's resolution early


@contextmanager
def enough_file_descriptors(needed: int) -> Iterator[None]:
    """Raise this process's soft descriptor limit (the server inherits it) if it is low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def stalled_request(port: int) -> socket.socket:
    """A connection that sends half a request's headers and then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow")
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except BlockingIOError:
        return False


def test_idle_half_requests_are_closed_within_the_bound_while_health_answers(
    tmp_path: Path,
) -> None:
    env = {"YKMAKE_ENV": "production", "LOG_DIR": str(tmp_path / "logs")}
    args = ["--header-timeout", str(HEADER_TIMEOUT)]
    with (
        enough_file_descriptors(4 * SOCKETS),
        serving(args, env, tmp_path) as (_, port),
        ExitStack() as sockets,
        selectors.DefaultSelector() as selector,
    ):
        opened: dict[socket.socket, float] = {}
        for _ in range(SOCKETS):
            sock = sockets.enter_context(stalled_request(port))
            opened[sock] = time.monotonic()
            selector.register(sock, selectors.EVENT_READ)

        # All 500 are open and stalled: everyone else is still served.
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 200

        waited: dict[socket.socket, float] = {}
        deadline = max(opened.values()) + HEADER_TIMEOUT + SLACK
        while len(waited) < SOCKETS and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                if closed_by_server(ready):
                    waited[ready] = time.monotonic() - opened[ready]
                    selector.unregister(ready)
        # The server's timer starts after our connect returned: never earlier than the bound.
        assert len(waited) == SOCKETS, f"{SOCKETS - len(waited)} connections still open"
        assert min(waited.values()) >= HEADER_TIMEOUT - EARLY
        assert max(waited.values()) <= HEADER_TIMEOUT + SLACK
        # And it still serves once they are gone.
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and its Content-Length body) off a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_slow_answer_is_not_cut_and_the_next_request_on_it_is_bounded(tmp_path: Path) -> None:
    env = {"YKMAKE_ENV": "test", "LOG_DIR": str(tmp_path / "logs")}
    bound = 0.5
    with (
        serving(["--header-timeout", str(bound)], env, tmp_path) as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        # Its headers came in time; the handler takes three times the bound.
        sock.sendall(b"GET /api/debug/slow?ms=1500 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        # Kept alive, the connection starts a second request and stalls: bounded again.
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert bound - EARLY <= time.monotonic() - started <= bound + SLACK
