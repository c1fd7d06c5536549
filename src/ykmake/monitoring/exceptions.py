"""Exceptions raised on purpose by ykmake and its monitoring toolkit.

Tree::

    YkmakeError
    ├── SettingsError        a setting has a value outside what it accepts (exit code 2)
    └── StartupError         something the settings point at cannot be used at start-up
"""

from __future__ import annotations

__all__ = ["SettingsError", "StartupError", "YkmakeError"]


class YkmakeError(Exception):
    """Base of every error ykmake raises on purpose."""


class SettingsError(YkmakeError):
    """A setting has a value outside what it accepts."""


class StartupError(YkmakeError):
    """Something the settings point at cannot be used (a database, Redis, a directory)."""
