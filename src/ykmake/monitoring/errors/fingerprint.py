"""What makes two errors "the same kind": the exception's type and the innermost frame of
application code. It groups errors for storm control, Sentry's budget and the alert list.

Computed for every error, so it reads only what the traceback already holds (code objects,
not source lines), and remembers each code object's verdict and each kind's digest.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sysconfig
from types import CodeType
from typing import Final

__all__ = ["error_fingerprint", "innermost_app_frame"]

_LIBRARY_DIRS: Final = tuple(
    {
        os.path.realpath(p)
        for p in (
            sysconfig.get_paths()["stdlib"],
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"],
        )
        if p
    }
)


@functools.lru_cache(maxsize=4096)
def _is_application_code(code: CodeType) -> bool:
    path = os.path.realpath(code.co_filename)
    return "site-packages" not in path and not path.startswith(_LIBRARY_DIRS)


def _innermost_app_code(error: BaseException) -> CodeType | None:
    found = None
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if _is_application_code(code):
            found = code
        tb = tb.tb_next
    return found


def innermost_app_frame(error: BaseException) -> str | None:
    """``file:function`` of the deepest traceback frame outside the stdlib and site-packages."""
    code = _innermost_app_code(error)
    return None if code is None else f"{os.path.basename(code.co_filename)}:{code.co_name}"


def error_fingerprint(error: BaseException) -> str:
    """Exception type and the innermost frame in application code, not the message (which
    often carries an id): ``KeyError`` raised at one place is one kind of error."""
    kind = type(error)
    return _fingerprint(f"{kind.__module__}.{kind.__qualname__}", _innermost_app_code(error))


@functools.lru_cache(maxsize=4096)
def _fingerprint(kind: str, code: CodeType | None) -> str:
    place = "" if code is None else f"{os.path.basename(code.co_filename)}:{code.co_name}"
    parts = ("error", kind, place)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]
