"""A loopback HTTP server in a background thread that records requests and fails on demand.

The Slack and Sentry fakes subclass :class:`FakeHTTPServer` and only decide how to answer a
request that is neither failed, hung nor refused on purpose.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["FakeHTTPServer", "RecordedRequest", "Reply"]

_HOST = "127.0.0.1"
_T = TypeVar("_T")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it.

    ``headers`` has lower-cased names; ``body`` is the parsed body (JSON, form or
    envelope, depending on the fake), ``raw`` the decoded bytes; ``status`` and
    ``response`` are what the fake answered; ``at`` is when it arrived (``time.time()``).
    """

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    status: int
    response: bytes
    at: float = 0.0


@dataclass(frozen=True)
class Reply:
    """What a fake answers: status, body and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    retry_after: float | None
    error: str | None
    times: int | None  # None: until reset()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Bounds a read on a connection the client opened but never used, so stop() can join.
    timeout = 10

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest output is for test failures."""


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # come_back() re-binds the same port right after closing it
    daemon_threads = False  # server_close() joins the handler threads: nothing leaks

    def __init__(self, port: int, fake: FakeHTTPServer) -> None:
        self.fake = fake
        super().__init__((_HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closes its socket before a hung reply is written; that is
        # the scenario under test, not an error worth a traceback.
        return


class FakeHTTPServer:
    """Base for loopback fakes: start/stop, recording, wait_for, and failure modes."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._failures: deque[_Failure] = deque()
        self._hang_seconds = 0.0
        self._hang_times: int | None = 0
        self._down = False
        self._release = threading.Event()  # set on stop(): hung handlers answer at once
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 and serve from a background thread."""
        if self._server is not None:
            return self
        self._release.clear()
        self._serve(self._port)
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join every thread; safe to call twice."""
        self._release.set()
        self._close_listener()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            msg = f"{type(self).__name__} is not started; call start() or use it as a context"
            raise RuntimeError(msg)
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` without a trailing slash."""
        return f"http://{_HOST}:{self.port}"

    def _serve(self, port: int) -> None:
        server = _Server(port, self)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()

    def _close_listener(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    # failure modes ---------------------------------------------------------------------

    def fail_with(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        times: int | None = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (``None``: all, until reset) with ``status``."""
        with self._lock:
            self._failures.append(_Failure(status, retry_after, error, times))

    def hang(self, seconds: float, *, times: int | None = None) -> None:
        """Delay the next ``times`` answers (``None``: all, until reset) by ``seconds``."""
        with self._lock:
            self._hang_seconds, self._hang_times = seconds, times

    def go_down(self, *, refuse: bool = False) -> None:
        """Fail every request with 503, or with ``refuse=True`` close the listening socket."""
        if refuse:
            self._release.set()  # let hung handlers finish so closing can join them
            self._close_listener()
            self._release.clear()
        else:
            with self._lock:
                self._down = True

    def come_back(self) -> None:
        """Undo :meth:`go_down`: answer again, on the same port."""
        with self._lock:
            self._down = False
        if self._server is None and self._port:
            self._serve(self._port)

    def reset(self) -> None:
        """Clear every failure mode (recorded requests stay)."""
        with self._lock:
            self._failures.clear()
            self._hang_seconds, self._hang_times = 0.0, 0
            self._down = False

    # recording -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def wait_for(
        self,
        count: int,
        timeout: float = 5.0,
        *,
        where: Callable[[RecordedRequest], bool] | None = None,
    ) -> list[RecordedRequest]:
        """Wait until at least ``count`` (matching) requests arrived; return them.

        Raises:
            TimeoutError: fewer arrived before the deadline.
        """

        def matching(requests: list[RecordedRequest]) -> list[RecordedRequest]:
            return [r for r in requests if where is None or where(r)]

        return self._wait(matching, count, timeout, "requests")

    def _wait(
        self,
        collect: Callable[[list[RecordedRequest]], list[_T]],
        count: int,
        timeout: float,
        what: str,
    ) -> list[_T]:
        """Wait on the condition until ``collect(requests)`` has ``count`` items."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(found := collect(self._requests)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    msg = (
                        f"{type(self).__name__}: expected {count} {what} within {timeout}s, "
                        f"got {len(found)}; requests: {[r.path for r in self._requests]}"
                    )
                    raise TimeoutError(msg)
                self._lock.wait(left)
            return found

    # request handling ------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        """The normal answer to a request whose parsed body is ``body``; subclasses override."""
        raise NotImplementedError

    def _parse(self, path: str, headers: dict[str, str], raw: bytes) -> Any:
        """The recorded ``body``; subclasses override."""
        return None

    def _failure_reply(self, path: str, status: int, error: str | None) -> Reply:
        """How a failure on purpose looks for this service; subclasses override."""
        return Reply(status, (error or "error").encode(), "text/plain; charset=utf-8")

    def _decode(self, headers: dict[str, str], raw: bytes) -> bytes:
        """Undo Content-Encoding; subclasses that expect compression override."""
        return raw

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = handler.path
        try:
            raw = self._decode(headers, raw)
            parsed = self._parse(path, headers, raw)
        except Exception as exc:  # noqa: BLE001 - a malformed body is answered 400, not crashed on
            parsed = None
            reply = Reply(400, f"bad request: {exc}".encode(), "text/plain; charset=utf-8")
        else:
            reply = self._choose_reply(handler.command, path, headers, parsed)

        delay = self._take_hang()
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    handler.command,
                    path,
                    headers,
                    raw,
                    parsed,
                    reply.status,
                    reply.body,
                    time.time(),
                )
            )
            self._lock.notify_all()
        if delay:
            self._release.wait(delay)
        with contextlib.suppress(OSError):  # the client may be gone after a hang
            self._write(handler, reply)

    def _choose_reply(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        with self._lock:
            if self._down:
                return self._failure_reply(path, 503, None)
            if self._failures:
                failure = self._failures[0]
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.popleft()
                reply = self._failure_reply(path, failure.status, failure.error)
                if failure.retry_after is not None:
                    reply.headers["Retry-After"] = _format_seconds(failure.retry_after)
                return reply
        return self._answer(method, path, headers, body)

    def _take_hang(self) -> float:
        with self._lock:
            if not self._hang_seconds or self._hang_times == 0:
                return 0.0
            if self._hang_times is not None:
                self._hang_times -= 1
            return self._hang_seconds

    @staticmethod
    def _write(handler: _Handler, reply: Reply) -> None:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(reply.body)
        handler.wfile.flush()


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
