"""How to ask whether the client already hung up, without waiting: the seed's
``res.on("close")``. Decided once per server; the middleware keeps the answer.

The public way (:func:`probe_receive`) is Starlette's ``Request.is_disconnected`` without the
cancel scope: a server answers ``receive()`` at once with ``http.disconnect`` for a closed
connection and suspends otherwise, so one step of the coroutine tells the two apart, and a
suspended one is closed again.

Under uvicorn, ``receive`` is a method of the connection's request cycle, whose
``disconnected`` flag is what that step would answer from. Reading it directly skips the
coroutine and has no side effect on the cycle. It is uvicorn's private attribute, so it is
read only here, for the uvicorn versions ``pyproject.toml`` admits, and only when the object
looks as expected; anything else takes the public probe.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Final, cast

from starlette.types import Receive

__all__ = ["GoneCheck", "checker_for", "probe_receive"]

GoneCheck = Callable[[Receive], bool]
# Request cycles whose receive() answers from their `disconnected` flag (uvicorn < 0.55).
_UVICORN_CYCLES: Final = frozenset(
    {
        "uvicorn.protocols.http.httptools_impl.RequestResponseCycle",
        "uvicorn.protocols.http.h11_impl.RequestResponseCycle",
    }
)
# uvicorn's flag, read in C: `receive.__self__.disconnected`.
_uvicorn_flag = cast(GoneCheck, attrgetter("__self__.disconnected"))


def checker_for(receive: Receive) -> GoneCheck:
    """The check for every ``receive`` bound to the same class as this one (the server's
    request cycle): uvicorn's flag, or the public probe."""
    cycle = getattr(receive, "__self__", None)
    kind = type(cycle)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if name in _UVICORN_CYCLES and isinstance(getattr(cycle, "disconnected", None), bool):
        return _uvicorn_flag
    return probe_receive


def probe_receive(receive: Receive) -> bool:
    """One step of ``receive()``: True if it answers ``http.disconnect`` without waiting."""
    awaitable = receive()
    step = getattr(awaitable, "send", None)
    if step is None:  # not a coroutine: nothing to step without waiting
        return False
    try:
        step(None)
    except StopIteration as done:
        message = done.value
        return isinstance(message, dict) and message.get("type") == "http.disconnect"
    except Exception:  # noqa: BLE001 - a server that can't be probed: assume connected
        return False
    awaitable.close()  # type: ignore[attr-defined]  # a coroutine, as `send` showed
    return False
