"""Exceptions raised on purpose by ykmake; the tree is in :mod:`ykmake.monitoring.exceptions`,
and each package adds its own subclasses (``StackError``, ``LoadError``)."""

from __future__ import annotations

from ykmake.monitoring.exceptions import SettingsError, StartupError, YkmakeError

__all__ = ["SettingsError", "StartupError", "YkmakeError"]
