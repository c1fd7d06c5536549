"""Fingerprints: what makes two alerts "the same" for storm control."""

from __future__ import annotations

import hashlib
import os
import sysconfig
import traceback
from typing import Final

__all__ = ["alert_fingerprint", "error_fingerprint", "innermost_app_frame"]

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


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]


def alert_fingerprint(source: str, severity: str, title: str, message: str) -> str:
    return _digest(source, severity, title, message)


def innermost_app_frame(error: BaseException) -> str | None:
    """``file:function`` of the deepest traceback frame outside the stdlib and site-packages."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        path = os.path.realpath(frame.filename)
        if "site-packages" in path or path.startswith(_LIBRARY_DIRS):
            continue
        found = f"{os.path.basename(frame.filename)}:{frame.name}"
    return found


def error_fingerprint(error: BaseException) -> str:
    """Exception type and the innermost frame in application code: the local grouping used
    when there is no Sentry, so the alerts list doubles as an error list."""
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    return _digest("error", kind, innermost_app_frame(error) or "")
