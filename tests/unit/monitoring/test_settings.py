"""``MonitoringSettings.secret_values``: what the redactor masks wherever it appears."""

from __future__ import annotations

from pydantic import SecretStr

from tests.conftest import SettingsFactory
from ykmake.monitoring.settings import MonitoringSettings


class _AppSettings(MonitoringSettings):
    # An app's own secret, under an environment variable of its own choosing.
    signing_key: SecretStr | None = None
    cache_url: str | None = None


def test_every_secret_setting_and_url_password_is_a_secret_value() -> None:
    settings = MonitoringSettings(
        _env_file=None,
        slack_token="xoxb-1-2-three",
        slack_webhook_url="https://hooks.slack.com/services/T0/B0/XYZ123",
        sentry_dsn="https://0123456789abcdef@o1.ingest.sentry.io/42",
        metrics_token="metrics-token-1",
        admin_token="admin-token-1",
        alertmanager_webhook_token="hook-token-1",
        alert_database_url="postgresql://app:p%40ss-word@db:5432/alerts",
    )
    values = set(settings.secret_values())
    assert {
        "xoxb-1-2-three",
        "https://hooks.slack.com/services/T0/B0/XYZ123",
        "/services/T0/B0/XYZ123",  # a webhook URL's secret part, seen without the host
        "https://0123456789abcdef@o1.ingest.sentry.io/42",
        "0123456789abcdef",  # the DSN's key
        "metrics-token-1",
        "admin-token-1",
        "hook-token-1",
        "p%40ss-word",  # the password as written in the URL, and as a driver would show it
        "p@ss-word",
    } <= values
    assert "app" not in values  # a database user is not a secret
    assert "" not in values


def test_an_apps_own_secrets_count_whatever_they_are_called() -> None:
    settings = _AppSettings(
        _env_file=None,
        signing_key="app-signing-key",
        cache_url="redis://:cache-pass@cache:6379/0",
    )
    assert set(settings.secret_values()) == {"app-signing-key", "cache-pass"}


def test_the_services_settings_add_theirs(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        session_secret="session-secret-1",
        database_url="postgresql://ykmake:db-pass-1@127.0.0.1:5432/ykmake",
    )
    assert {"session-secret-1", "db-pass-1"} <= set(settings.secret_values())


def test_nothing_configured_means_nothing_to_mask() -> None:
    assert MonitoringSettings(_env_file=None).secret_values() == ()
