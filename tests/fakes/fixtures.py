"""pytest fixtures for the fakes; load with ``pytest_plugins = ["tests.fakes.fixtures"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.sentry_server import FakeSentry
from tests.fakes.slack_server import FakeSlack

__all__ = ["fake_sentry", "fake_slack"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack; stopped (socket closed, threads joined) after the test."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    """A started fake Sentry ingest; stopped after the test."""
    with FakeSentry() as fake:
        yield fake
