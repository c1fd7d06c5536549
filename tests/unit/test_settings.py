from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ykmake.errors import SettingsError
from ykmake.settings import load_settings


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings(_env_file=None)
    assert settings.environment == "development"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.log_dir == Path("logs")
    assert settings.effective_log_level == "debug"
    assert settings.effective_traces_sample_rate == 1.0


def test_production_defaults_follow_the_seed() -> None:
    settings = load_settings(_env_file=None, ykmake_env="production")
    assert settings.effective_log_level == "info"
    assert settings.effective_traces_sample_rate == 0.1
    assert not settings.debug_routes_enabled


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YKMAKE_ENV", "production")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    settings = load_settings(_env_file=None)
    assert settings.environment == "production"
    assert settings.effective_log_level == "warning"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
    )


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("YKMAKE_ENV=test\nLOG_TO_STDOUT=true\n")
    settings = load_settings(_env_file=env)
    assert settings.environment == "test"
    assert settings.log_to_stdout is True


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ykmake_env": "prod"}, "YKMAKE_ENV='prod' is invalid: Input should be 'development'"),
        ({"log_level": "loud"}, "LOG_LEVEL='loud' is invalid"),
        ({"database_url": "mysql://u@h/db"}, "DATABASE_URL='mysql://u@h/db' is invalid"),
        ({"database_url": "not a url"}, "DATABASE_URL='not a url' is invalid"),
        ({"redis_url": "http://cache"}, "REDIS_URL='http://cache' is invalid"),
        ({"trusted_proxies": "1.2.3.4/99"}, "TRUSTED_PROXIES"),
        ({"log_max_bytes": "12"}, "LOG_MAX_BYTES='12' is invalid"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(
    overrides: dict[str, str], expected: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, **overrides)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_error_never_shows_a_password_or_secret() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, database_url="mysql://user:hunter2@db/x")
    assert "hunter2" not in str(info.value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, sentry_dsn=12345)
    assert "12345" not in str(info.value)
    assert "SENTRY_DSN" in str(info.value)


def test_secrets_are_not_in_the_repr() -> None:
    settings = load_settings(_env_file=None, admin_token="s3cret-admin")
    assert "s3cret-admin" not in repr(settings)


@pytest.mark.parametrize(
    "dsn", ["garbage", "s3cret-key@sentry.example", "https://sentry.example/1", "ftp://k@h/1"]
)
def test_a_sentry_dsn_sentry_would_refuse_is_refused_without_showing_it(dsn: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, sentry_dsn=dsn)
    assert str(info.value) == (
        "SENTRY_DSN=*** is invalid: "
        "expected a Sentry DSN such as https://<public key>@<host>/<project id>"
    )


def test_an_empty_sentry_dsn_leaves_sentry_off() -> None:
    assert load_settings(_env_file=None, sentry_dsn="").sentry_dsn is None
    dsn = "https://public@o1.ingest.sentry.io/42"
    assert load_settings(_env_file=None, sentry_dsn=dsn).sentry_dsn is not None
