"""The YkMake reference service: what the monitoring watches."""

from __future__ import annotations

from ykmake.app.main import create_app

__all__ = ["create_app"]
