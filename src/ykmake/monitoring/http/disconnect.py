"""Whether the client already hung up, asked without waiting: the seed's ``res.on("close")``.

The public way (:func:`probe_receive`) is Starlette's ``Request.is_disconnected`` without the
cancel scope: a server answers ``receive()`` at once with ``http.disconnect`` for a closed
connection and suspends otherwise, so one step of the coroutine tells the two apart, and a
suspended one is closed again.

Under uvicorn, ``receive`` is a method of the connection's request cycle, whose
``disconnected`` flag is what that step would answer from. Reading it directly costs a tenth
as much and has no side effect on the cycle. It is uvicorn's private attribute, so it is
read here only, for the uvicorn versions ``pyproject.toml`` admits, and only when the
object looks as expected; anything else takes the public probe.
"""

from __future__ import annotations

from typing import Final

from starlette.types import Receive

__all__ = ["client_gone", "probe_receive"]

# Request cycles whose receive() answers from their `disconnected` flag (uvicorn < 0.55).
_UVICORN_CYCLES: Final = frozenset(
    {
        "uvicorn.protocols.http.httptools_impl.RequestResponseCycle",
        "uvicorn.protocols.http.h11_impl.RequestResponseCycle",
    }
)
# Per class of the object `receive` is bound to (a few per server): whether it has the flag.
_flag_by_class: dict[type, bool] = {}


def client_gone(receive: Receive) -> bool:
    """True when the server already knows the client is gone."""
    cycle = getattr(receive, "__self__", None)
    flagged = _flag_by_class.get(type(cycle))
    if flagged is None:
        flagged = _flag_by_class[type(cycle)] = _has_flag(cycle)
    if flagged:
        return getattr(cycle, "disconnected", False) is True
    return probe_receive(receive)


def _has_flag(cycle: object) -> bool:
    kind = type(cycle)
    name = f"{kind.__module__}.{kind.__qualname__}"
    return name in _UVICORN_CYCLES and isinstance(getattr(cycle, "disconnected", None), bool)


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
