"""How to ask whether the client already hung up, without waiting: the seed's
``res.on("close")``. Decided once per server; the middleware keeps the answer.

The public way (:func:`probe_receive`) is Starlette's ``Request.is_disconnected`` without the
cancel scope: a server answers ``receive()`` at once with ``http.disconnect`` for a closed
connection and suspends otherwise, so one step of the coroutine tells the two apart, and a
suspended one is closed again.

Under uvicorn the request cycle's ``disconnected`` flag, which that step would answer from,
is read instead (:mod:`.uvicorn_internals`, the one module reading uvicorn's own attributes);
anything else takes the public probe.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Receive

from ykmake.monitoring.http.uvicorn_internals import disconnect_flag_check

__all__ = ["GoneCheck", "checker_for", "probe_receive"]

GoneCheck = Callable[[Receive], bool]


def checker_for(receive: Receive) -> GoneCheck:
    """The check for every ``receive`` bound to the same class as this one (the server's
    request cycle): uvicorn's flag, or the public probe."""
    return disconnect_flag_check(receive) or probe_receive


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
