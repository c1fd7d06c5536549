"""Shared fixtures: settings in temp dirs, the app on SQLite or PostgreSQL, the fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import fresh_postgres_database
from ykmake.settings import Settings, load_settings

pytest_plugins = ["tests.fakes.fixtures"]

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for one test: test env, SQLite and logs in the test's temp dir."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ykmake_env": "test",
            "database_url": f"sqlite:///{tmp_path / 'ykmake.db'}",
            "log_dir": tmp_path / "logs",
            "alert_spool_dir": tmp_path / "spool",
        }
        values.update(overrides)
        return load_settings(_env_file=None, **values)

    return factory


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'param.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def app_factory(make_settings: SettingsFactory) -> Iterator[Callable[..., Any]]:
    """Build YkMake apps from settings overrides; their logging is closed after the test."""
    from ykmake.app.main import create_app

    built: list[Any] = []

    def factory(**overrides: Any) -> Any:
        app = create_app(make_settings(**overrides))
        built.append(app)
        return app

    yield factory
    for app in built:
        app.state.monitoring.logging.close()
        app.state.engine.dispose()
        if app.state.monitoring.alerts is not None:  # the alert store's engine is its own
            app.state.monitoring.alerts.engine.dispose()


@pytest.fixture
def sentry_cleanup() -> Iterator[None]:
    """sentry-sdk keeps one global client: close it after a test that initialised it."""
    import sentry_sdk

    yield
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2.0)
    sentry_sdk.get_global_scope().set_client(None)
