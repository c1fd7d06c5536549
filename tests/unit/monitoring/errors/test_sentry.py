from __future__ import annotations

import json
from typing import Any

from ykmake.monitoring.errors.sentry import SentryTracer, scrub_event


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


def test_tracer_samples_nothing_at_rate_zero() -> None:
    tracer = SentryTracer(0.0)
    assert all(tracer.start("GET", "/x") is None for _ in range(100))
