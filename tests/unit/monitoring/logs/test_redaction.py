from __future__ import annotations

from typing import Any

import pytest

from ykmake.monitoring.logs.redaction import REDACTED, Redactor


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
    assert out["request"]["headers"] == [["authorization", REDACTED], ("accept", "*/*")] or out[
        "request"
    ]["headers"] == [("authorization", REDACTED), ("accept", "*/*")]
    assert out["request"]["body"]["users"][0] == {"name": "a", "password": REDACTED}
    assert out["request"]["body"]["users"][1]["token"] == REDACTED
    assert out["tuple"][0]["secret"] == REDACTED


def test_empty_secret_values_stay_empty() -> None:
    assert Redactor().redact({"token": None, "password": ""}) == {"token": None, "password": ""}


def test_extra_keys() -> None:
    assert Redactor(extra_keys=["ssn"]).redact({"ssn": "123"}) == {"ssn": REDACTED}
