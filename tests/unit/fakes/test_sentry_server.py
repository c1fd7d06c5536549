"""The fake Sentry understands what a real sentry-sdk client sends."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import httpx
import pytest
import sentry_sdk

from tests.fakes.sentry_server import FakeSentry, parse_envelope

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture
def sentry_client(fake_sentry: FakeSentry) -> Iterator[sentry_sdk.Client]:
    """A client of its own (no global init, no integrations patching the stdlib)."""
    client = sentry_sdk.Client(
        dsn=fake_sentry.dsn,
        default_integrations=False,
        auto_enabling_integrations=False,
        traces_sample_rate=1.0,
        environment="test",
    )
    try:
        yield client
    finally:
        client.close(timeout=2.0)


def capture_value_error(client: sentry_sdk.Client, text: str) -> None:
    with sentry_sdk.new_scope() as scope:
        scope.set_client(client)
        try:
            raise ValueError(text)
        except ValueError as exc:
            scope.capture_exception(exc)


def test_error_event_arrives_with_type_and_message(
    fake_sentry: FakeSentry, sentry_client: sentry_sdk.Client
) -> None:
    capture_value_error(sentry_client, "boom 42")

    (event,) = fake_sentry.wait_for_events(1)

    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert exception["value"] == "boom 42"
    assert event["environment"] == "test"
    (request,) = fake_sentry.requests
    assert request.path == "/api/1/envelope/"
    assert "sentry_key=public" in request.headers["x-sentry-auth"]
    # What sentry-sdk 2.x sends without the brotli module: a gzip-compressed envelope.
    assert request.headers["content-encoding"] == "gzip"
    assert fake_sentry.envelopes[0].headers["event_id"] == event["event_id"]


def test_transactions_are_told_apart_from_errors(
    fake_sentry: FakeSentry, sentry_client: sentry_sdk.Client
) -> None:
    with sentry_sdk.new_scope() as scope:
        scope.set_client(sentry_client)
        with sentry_sdk.start_transaction(name="GET /users", op="http.server"):
            pass

    (transaction,) = fake_sentry.wait_for_events(1, item_type="transaction")

    assert transaction["transaction"] == "GET /users"
    assert fake_sentry.events == []
    assert fake_sentry.transactions == [transaction]


def test_failed_ingest_records_the_attempt_but_no_event(
    fake_sentry: FakeSentry, sentry_client: sentry_sdk.Client
) -> None:
    fake_sentry.fail_with(500)

    capture_value_error(sentry_client, "lost")

    (request,) = fake_sentry.wait_for(1)
    assert request.status == 500
    assert fake_sentry.events == []


def test_wait_for_events_times_out_with_a_clear_message(fake_sentry: FakeSentry) -> None:
    with pytest.raises(TimeoutError, match=r"expected 1 'event' items within 0\.05s"):
        fake_sentry.wait_for_events(1, timeout=0.05)


def test_hang_outlasts_a_short_client_timeout(fake_sentry: FakeSentry) -> None:
    fake_sentry.hang(30)
    envelope = b'{"event_id":"e1"}\n{"type":"event"}\n{"message":"x"}\n'

    with httpx.Client(timeout=0.2) as http, pytest.raises(httpx.TimeoutException):
        http.post(f"{fake_sentry.origin}/api/1/envelope/", content=envelope)

    fake_sentry.wait_for(1)


def test_store_endpoint_and_gzip_body(fake_sentry: FakeSentry) -> None:
    event = {"event_id": "abc", "message": "legacy", "level": "error"}

    with httpx.Client(timeout=5.0) as http:
        response = http.post(
            f"{fake_sentry.origin}/api/1/store/",
            content=gzip.compress(json.dumps(event).encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    assert response.status_code == 200
    assert response.json() == {"id": "abc"}
    assert fake_sentry.events == [event]


def test_unknown_path_is_404_and_recorded(fake_sentry: FakeSentry) -> None:
    with httpx.Client(timeout=5.0) as http:
        response = http.post(f"{fake_sentry.origin}/nope", content=b"x")

    assert response.status_code == 404
    assert fake_sentry.requests[0].path == "/nope"


def test_parse_envelope_with_and_without_lengths() -> None:
    attachment = b"line1\nline2"
    data = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
        b'{"type":"attachment","length":'
        + str(len(attachment)).encode()
        + b"}\n"
        + attachment
        + b"\n"
        + b'{"type":"event"}\n{"message":"hello"}\n'
        + b"\n"
        + b'{"type":"client_report","length":2}\n{}'
    )

    envelope = parse_envelope(data)

    assert envelope.headers == {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    assert [i.type for i in envelope.items] == ["attachment", "event", "client_report"]
    assert envelope.items[0].payload == attachment
    assert envelope.of_type("event") == [{"message": "hello"}]
    assert envelope.of_type("client_report") == [{}]
