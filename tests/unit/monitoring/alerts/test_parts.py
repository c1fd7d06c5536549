"""The alert store keeps connections of its own: an app that exhausted its pool (a hanging
database holds every connection) never blocks an alert write."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine

from ykmake.monitoring.alerts.database import DatabaseLimits, make_engine
from ykmake.monitoring.alerts.parts import AlertParts

SettingsFactory = Callable[..., Any]


def _parts(make_settings: SettingsFactory, engine: Engine) -> AlertParts:
    return AlertParts.build(make_settings(), log=structlog.get_logger("test"), engine=engine)


def test_an_alert_is_written_while_the_app_holds_its_every_connection(
    tmp_path: Path, make_settings: SettingsFactory
) -> None:
    app_engine = make_engine(
        f"sqlite:///{tmp_path / 'app.db'}",
        DatabaseLimits(pool_size=1, max_overflow=0, pool_timeout=30),
    )
    parts = _parts(make_settings, app_engine)
    try:
        with app_engine.connect():  # the app's one connection, held
            began = time.monotonic()
            stored = parts.service.send_alert("error", "disk filling", "92% used")
            took = time.monotonic() - began
        assert stored is not None  # in the database, not the journal
        assert took < 2.0
        assert parts.store.list_alerts()[1] == 1
    finally:
        parts.close()
        app_engine.dispose()
    assert parts.engine is not app_engine
    assert parts.engine.url == app_engine.url


def test_closing_the_parts_leaves_the_apps_engine_alone(
    tmp_path: Path, make_settings: SettingsFactory
) -> None:
    app_engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    parts = _parts(make_settings, app_engine)
    pool = app_engine.pool
    parts.close()
    assert app_engine.pool is pool  # not disposed of (that would replace the pool)
    app_engine.dispose()


def test_an_in_memory_database_is_shared_not_copied(make_settings: SettingsFactory) -> None:
    app_engine = make_engine("sqlite://")
    parts = _parts(make_settings, app_engine)
    try:
        assert parts.engine is app_engine  # a second engine would be a second, empty database
        assert not parts.owns_engine
    finally:
        parts.close()
        app_engine.dispose()
