from __future__ import annotations

import ykmake.monitoring as monitoring


def test_all_is_exactly_the_public_names_and_each_resolves() -> None:
    assert monitoring.__all__ == sorted(monitoring.__all__)
    for name in monitoring.__all__:
        assert getattr(monitoring, name) is not None


def test_capture_error_and_send_alert_do_nothing_when_no_app_runs() -> None:
    assert monitoring.capture_error(ValueError("x")) is None
    assert monitoring.send_alert("error", "t", "m") is None
