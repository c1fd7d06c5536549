"""Values APIs take from a client, read as their OpenAPI documents say (the alert APIs, and
the service's own for its integers).

pydantic is more lenient than a JSON Schema: it reads a number, or text such as ``"0.0"``, as
a Unix time, and ``true`` or ``"3"`` as an integer. The webhook and the admin API refuse
those (a 400 naming the field), so what they accept is what they document; an integral
float such as ``3.0`` is a JSON Schema integer, and is taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["JsonInteger", "Rfc3339"]


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _rfc3339_text(value: Any) -> Any:
    number = isinstance(value, int | float) or (isinstance(value, str) and _is_number(value))
    if number:
        msg = "expected an RFC 3339 date-time such as 2024-05-01T10:00:00Z, not a number"
        raise ValueError(msg)
    return value


def _json_integer(value: Any) -> Any:
    # JSON's true is not a count, nor "12": pydantic would read them as 1 and 12.
    if isinstance(value, bool | str):
        msg = "expected a JSON integer"
        raise ValueError(msg)
    return value


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_text)]
JsonInteger = Annotated[int, BeforeValidator(_json_integer)]
