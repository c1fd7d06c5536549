"""Exceptions raised by ykmake.

Tree::

    YkmakeError
    ├── SettingsError        a setting has a value outside what it accepts (exit code 2)
    ├── StartupError         a dependency named by the settings is unreachable at start-up
    └── AlertStoreError      the alert store could not be read or written
"""

from __future__ import annotations

__all__ = ["AlertStoreError", "SettingsError", "StartupError", "YkmakeError"]


class YkmakeError(Exception):
    """Base of every error ykmake raises on purpose."""


class SettingsError(YkmakeError):
    """A setting has a value outside what it accepts."""


class StartupError(YkmakeError):
    """Something the settings point at cannot be used (database or Redis unreachable)."""


class AlertStoreError(YkmakeError):
    """The alert store could not be read or written."""
