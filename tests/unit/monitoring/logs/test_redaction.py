"""The one redactor: secrets masked by key and by the shape of values, ordinary text kept."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ykmake.monitoring.logs.redaction import REDACTED, Redactor

CONFIGURED = ("s3cr3t-configured-value", "http://127.0.0.1:9/services/T1/B1/X1")


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(secrets=CONFIGURED)


# -- by key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Authorization",
        "cookie",
        "Set-Cookie",
        "api_key",
        "apiKey",
        "x-api-key",
        "client_secret",
        "refresh_token",
        "SLACK_TOKEN",
        "db_passwd",
        "sentry_dsn",
    ],
)
def test_secret_keys_are_redacted(key: str) -> None:
    assert Redactor().redact({key: "value"}) == {key: REDACTED}


@pytest.mark.parametrize("key", ["user_id", "path", "event", "status", "request_id", "route"])
def test_ordinary_keys_are_kept(key: str) -> None:
    assert Redactor().redact({key: "value"}) == {key: "value"}


def test_redaction_reaches_any_depth() -> None:
    data: dict[str, Any] = {
        "request": {
            "headers": [("authorization", "Bearer abc"), ("accept", "*/*")],
            "body": {"users": [{"name": "a", "password": "p1"}, {"name": "b", "token": "t"}]},
        },
        "tuple": ({"secret": "s"},),
    }
    out = Redactor().redact(data)
    assert out["request"]["headers"] == [("authorization", REDACTED), ("accept", "*/*")]
    assert out["request"]["body"]["users"][0] == {"name": "a", "password": REDACTED}
    assert out["request"]["body"]["users"][1]["token"] == REDACTED
    assert out["tuple"][0]["secret"] == REDACTED


def test_empty_secret_values_stay_empty() -> None:
    assert Redactor().redact({"token": None, "password": ""}) == {"token": None, "password": ""}


def test_extra_keys() -> None:
    assert Redactor(extra_keys=["ssn"]).redact({"ssn": "123"}) == {"ssn": REDACTED}


# -- by value ---------------------------------------------------------------------------

MASKED = [
    # URL userinfo: the password, wherever the URL is
    ("postgresql://app:hunter2@db:5432/app", "postgresql://app:[REDACTED]@db:5432/app"),
    (
        "cannot reach redis://:pw123@cache:6379/0 now",
        "cannot reach redis://:[REDACTED]@cache:6379/0 now",
    ),
    # Authorization-style credentials
    ("Authorization: Bearer eyJhbGciOi.x-y_z", "Authorization: Bearer [REDACTED]"),
    ("authorization: basic dXNlcjpwYXNz", "authorization: basic [REDACTED]"),
    ("('authorization', 'Bearer abc')", "('authorization', 'Bearer [REDACTED]')"),
    ("Token 9f8e7d6c5b4a", "Token [REDACTED]"),
    # key=value pairs: query strings, form bodies, cookies, free text
    ("GET /cb?code=1&access_token=abc123&x=2", "GET /cb?code=1&access_token=[REDACTED]&x=2"),
    ("name=Widget&password=hunter2", "name=Widget&password=[REDACTED]"),
    ("passwd=hunter2", "passwd=[REDACTED]"),
    ("secret=abc; path=/", "secret=[REDACTED]; path=/"),
    ("api_key=abc&apikey=def", "api_key=[REDACTED]&apikey=[REDACTED]"),
    ("token=abc", "token=[REDACTED]"),
    ("session=abc123; theme=dark", "session=[REDACTED]; theme=dark"),
    ("login failed, password: hunter2", "login failed, password: [REDACTED]"),
    ("X-Api-Key: k1", "X-Api-Key: [REDACTED]"),
    # "key": "value" in JSON and in a dict's or a body's repr
    ("{'password': 'hunter 2', 'user': 'bob'}", "{'password': '[REDACTED]', 'user': 'bob'}"),
    ('{"api_key":"k-1"}', '{"api_key":"[REDACTED]"}'),
    ('b\'{"password": "hunter2"}\'', 'b\'{"password": "[REDACTED]"}\''),
    # Slack
    ("slack said xoxb-1234-5678-abcdEFGH", "slack said [REDACTED]"),
    ("app token xapp-1-A0-123-abc", "app token [REDACTED]"),
    (
        "posting to https://hooks.slack.com/services/T000/B000/XXXX",
        "posting to https://hooks.slack.com/services/[REDACTED]",
    ),
    # Sentry DSNs, and any scheme://key@host/project
    (
        "https://0123456789abcdef0123456789abcdef@o42.ingest.sentry.io/7",
        "https://[REDACTED]@o42.ingest.sentry.io/7",
    ),
    ("dsn http://public@127.0.0.1:9000/1", "dsn http://[REDACTED]@127.0.0.1:9000/1"),
    # the configured secrets' own values, whatever their shape
    ("x s3cr3t-configured-value y", "x [REDACTED] y"),
    ("POST http://127.0.0.1:9/services/T1/B1/X1 body", "POST [REDACTED] body"),
]

ORDINARY = [
    "https://example.com:8443/path?q=1",
    "postgresql://app@db:5432/app",
    "ssh://git@github.com/org/repo.git",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.5.0",
    "token_count=3",
    "tokens=3",
    "password_hash=abc",
    "inside=3 bypass=1",
    "token expired",
    "basic information",
    "Basic Auth is off",
    "12:00:01 GET /api/products/42",
    "request completed",
    "user=bob&page=2",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_secret_shapes_are_masked_and_the_rest_kept(
    redactor: Redactor, text: str, expected: str
) -> None:
    assert redactor.scrub(text) == expected
    assert redactor.contains_secret(text)


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masking_twice_changes_nothing(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.scrub(expected) == expected


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_untouched(redactor: Redactor, text: str) -> None:
    assert redactor.scrub(text) is text
    assert not redactor.contains_secret(text)


def test_a_configured_secret_too_short_to_tell_from_words_is_not_looked_for() -> None:
    assert Redactor(secrets=["hook"]).scrub("alertmanager webhook") == "alertmanager webhook"


def test_a_secret_inside_another_is_masked_whole() -> None:
    redactor = Redactor(secrets=["abcdefgh", "abcdefgh-ijkl"])
    assert redactor.scrub("[abcdefgh-ijkl]") == "[[REDACTED]]"


def test_values_are_scanned_at_any_depth(redactor: Redactor) -> None:
    data: dict[str, Any] = {
        "message": "connect postgresql://u:hunter2@db/app failed",
        "nested": {"list": ["ok", ("token=abc", 3, 4)], "note": "s3cr3t-configured-value"},
    }
    out = redactor.redact(data)
    assert out["message"] == "connect postgresql://u:[REDACTED]@db/app failed"
    assert out["nested"]["list"] == ["ok", ("token=[REDACTED]", 3, 4)]
    assert out["nested"]["note"] == REDACTED


def test_redacted_leaves_the_callers_data_as_it_was(redactor: Redactor) -> None:
    details: dict[str, Any] = {
        "labels": {"password": "hunter2", "alertname": "X"},
        "description": "DSN https://0123456789abcdef0123@o1.ingest.sentry.io/2",
    }
    before = copy.deepcopy(details)
    out = redactor.redacted(details)
    assert details == before
    assert out == {
        "labels": {"password": REDACTED, "alertname": "X"},
        "description": "DSN https://[REDACTED]@o1.ingest.sentry.io/2",
    }


def test_values_rendered_as_text_are_scanned_as_text(redactor: Redactor) -> None:
    out = redactor.redact({"body": b"password=hunter2", "error": ValueError("token=abc")})
    assert out == {"body": "password=[REDACTED]", "error": "token=[REDACTED]"}
    clean = {"body": b"plain", "error": ValueError("plain")}
    assert redactor.redact(dict(clean)) == clean


def test_trusted_keys_are_never_scanned() -> None:
    redactor = Redactor(trusted_keys=["service"])
    assert redactor.redact({"service": "token=abc"}) == {"service": "token=abc"}
    assert redactor.redact({"other": "token=abc"}) == {"other": "token=[REDACTED]"}


def test_repeated_values_are_scrubbed_like_any_other(redactor: Redactor) -> None:
    agents = [f"probe/{n} api_key=k{n}" for n in range(3000)]
    for agent in agents * 2:  # more distinct values than are remembered, each seen twice
        assert redactor.scrub_repeated(agent) == redactor.scrub(agent)
    assert redactor.scrub_repeated("probe/1 api_key=k1") == "probe/1 api_key=[REDACTED]"
