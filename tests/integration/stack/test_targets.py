"""What ``stack up`` reports after the first scrapes: each target's health, and what to change
when Prometheus cannot read the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.stack.fake_app import fake_app
from tests.integration.stack.harness import running_stack
from ykmake.stack.targets import first_scrapes

pytestmark = pytest.mark.integration


def test_an_unshared_metrics_token_is_reported_with_what_to_set(tmp_path: Path) -> None:
    with (
        fake_app("the-apps-token") as app,
        running_stack(
            tmp_path / "stack", app_port=app.port, metrics_token="another", alertmanager=False
        ) as stack,
    ):
        targets = {t.job: t for t in first_scrapes(stack.rendered.url("prometheus"), timeout=30)}
    assert targets["prometheus"].health == "up"
    assert targets["prometheus"].hint is None
    app_target = targets["ykmake"]
    assert app_target.health == "down"
    assert "401" in app_target.error
    assert app_target.hint is not None
    assert "METRICS_TOKEN" in app_target.hint


def test_a_shared_token_is_up_and_an_absent_app_says_to_start_it(tmp_path: Path) -> None:
    with (
        fake_app("shared") as app,
        running_stack(tmp_path / "a", app_port=app.port, metrics_token="shared") as stack,
    ):
        up = {t.job: t for t in first_scrapes(stack.rendered.url("prometheus"), timeout=30)}
    assert (up["ykmake"].health, up["ykmake"].hint) == ("up", None)
    with running_stack(tmp_path / "b", alertmanager=False) as stack:  # nothing on the app port
        down = {t.job: t for t in first_scrapes(stack.rendered.url("prometheus"), timeout=30)}
    assert down["ykmake"].health == "down"
    assert down["ykmake"].hint is not None
    assert "ykmake serve" in down["ykmake"].hint
