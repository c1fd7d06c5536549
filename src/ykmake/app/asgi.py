"""ASGI entry point for servers (``uvicorn ykmake.app.asgi:app``); settings from the env."""

from __future__ import annotations

from ykmake.app.main import create_app

app = create_app()
