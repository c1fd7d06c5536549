from __future__ import annotations

import json
from typing import Any

from tests.conftest import SettingsFactory
from ykmake.monitoring.errors.sentry import SentryTracer, event_scrubber, scrub_event


def test_scrub_event_removes_secrets_at_any_depth() -> None:
    event: dict[str, Any] = {
        "request": {
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k1", "Accept": "*/*"},
            "cookies": {"session": "s1"},
            "data": "password=hunter2",
        },
        "extra": {"nested": {"password": "p2", "list": [{"client_secret": "c3"}]}},
        "breadcrumbs": {"values": [{"data": {"token": "t4"}}]},
        "exception": {
            "values": [
                {
                    "stacktrace": {
                        "frames": [
                            {
                                "vars": {
                                    "value": "b'Bearer zzz'",
                                    "line": "session=abc; theme=dark",
                                }
                            }
                        ]
                    }
                }
            ]
        },
    }
    raw = json.dumps(scrub_event(event))
    for secret in ("abc", "k1", "s1", "hunter2", "p2", "c3", "t4", "zzz"):
        assert secret not in raw, secret
    assert "*/*" in raw
    assert "theme=dark" in raw


def test_the_settings_scrubber_masks_values_everywhere_and_the_configured_secrets(
    make_settings: SettingsFactory,
) -> None:
    scrub = event_scrubber(make_settings(session_secret="session-secret-value"))
    event: dict[str, Any] = {
        "message": "auth with Bearer QmVhcmVy99",
        "exception": {
            "values": [{"type": "ValueError", "value": "bad body {'password': 'hunter2'}"}]
        },
        "tags": {"request_id": "r-1", "note": "token=tk-777"},
        "contexts": {"error": {"path": "/x", "detail": "postgresql://u:pg-pass@db/app"}},
        "breadcrumbs": {"values": [{"message": "slack said xoxb-1-2-abcDEF"}]},
        "extra": {"seen": "the secret is session-secret-value"},
    }
    raw = json.dumps(scrub(event, None))
    for secret in (
        "QmVhcmVy99",
        "hunter2",
        "tk-777",
        "pg-pass",
        "xoxb-1-2-abcDEF",
        "session-secret-value",
    ):
        assert secret not in raw, secret
    assert event["tags"]["request_id"] == "r-1"
    assert event["contexts"]["error"]["detail"] == "postgresql://u:[REDACTED]@db/app"


def test_tracer_samples_nothing_at_rate_zero() -> None:
    tracer = SentryTracer(0.0)
    assert all(tracer.start("GET", "/x") is None for _ in range(100))
