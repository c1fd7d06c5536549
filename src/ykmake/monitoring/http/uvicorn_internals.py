"""Everything the project reads of uvicorn beyond its public API, in this one module.

It holds for the uvicorn versions ``pyproject.toml`` admits (below 0.55), and each part
stands on something public when what it reads is not there:

* **The disconnect flag.** Under uvicorn, ``receive`` is a method of the connection's request
  cycle, whose ``disconnected`` flag is what ``receive()`` answers from. Reading it (a C
  ``attrgetter``) skips stepping a coroutine and has no side effect on the cycle.
  :func:`disconnect_flag_check` offers it only when the object looks as expected; otherwise
  :mod:`.disconnect` probes ``receive()`` as for any server.
* **The header deadline.** uvicorn bounds the wait *between* requests
  (``timeout_keep_alive``) but not a request whose headers never finish: a client that sends
  ``GET / HTTP/1.1\\r\\nHost:`` and stalls holds its connection (and a file descriptor)
  forever, and 500 such clients are one line of shell. :class:`HeaderTimeoutProtocol` is
  uvicorn's httptools protocol plus one timer per connection, armed when the connection opens
  and again after each response: when it fires and no new request has started since (the
  connection's request cycle is the one it saw, and that one is answered), the connection is
  closed. A request in progress is never cut. Serve with it as
  ``uvicorn.run(app, http=HeaderTimeoutProtocol)``; ``ykmake serve`` does (``--header-timeout``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Final, cast

import uvicorn
from starlette.types import Receive
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

__all__ = ["DEFAULT_HEADER_TIMEOUT", "HeaderTimeoutProtocol", "disconnect_flag_check"]

DEFAULT_HEADER_TIMEOUT: Final = 10.0  # seconds: a real client sends its headers in one round trip
# Request cycles whose receive() answers from their `disconnected` flag.
_CYCLES: Final = frozenset(
    {
        "uvicorn.protocols.http.httptools_impl.RequestResponseCycle",
        "uvicorn.protocols.http.h11_impl.RequestResponseCycle",
    }
)
# `receive.__self__.disconnected`, read in C.
_read_flag = cast(Callable[[Receive], bool], attrgetter("__self__.disconnected"))


def disconnect_flag_check(receive: Receive) -> Callable[[Receive], bool] | None:
    """For a ``receive`` bound to uvicorn's request cycle: a check that reads its
    ``disconnected`` flag, good for every ``receive`` of that class. None for anything else."""
    cycle = getattr(receive, "__self__", None)
    kind = type(cycle)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if name in _CYCLES and isinstance(getattr(cycle, "disconnected", None), bool):
        return _read_flag
    return None


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a connection waiting for its next request's headers
    longer than ``config.header_timeout`` seconds is closed."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout = float(getattr(config, "header_timeout", DEFAULT_HEADER_TIMEOUT))
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_after: object = None  # the request cycle the connection had then

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._waiting_after = self.cycle
            self._deadline = self.loop.call_later(self._header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        cycle = self.cycle
        # A request whose headers arrived has a new cycle; one being answered isn't complete.
        waiting = cycle is self._waiting_after and (cycle is None or cycle.response_complete)
        if waiting and not self.transport.is_closing():
            self.transport.close()
