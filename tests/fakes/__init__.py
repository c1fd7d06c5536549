"""Local fakes of Slack and Sentry that speak their HTTP APIs on 127.0.0.1."""

from __future__ import annotations

from tests.fakes._base import RecordedRequest
from tests.fakes.sentry_server import Envelope, EnvelopeItem, FakeSentry, parse_envelope
from tests.fakes.slack_server import FakeSlack

__all__ = [
    "Envelope",
    "EnvelopeItem",
    "FakeSentry",
    "FakeSlack",
    "RecordedRequest",
    "parse_envelope",
]
