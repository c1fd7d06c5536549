from __future__ import annotations

import ykmake.monitoring as monitoring


def test_all_is_exactly_the_public_names_and_each_resolves() -> None:
    assert monitoring.__all__ == sorted(monitoring.__all__)
    for name in monitoring.__all__:
        assert getattr(monitoring, name) is not None


def test_capture_error_and_send_alert_do_nothing_without_setup() -> None:
    from ykmake.monitoring import alerts, errors

    saved_alerts, saved_errors = list(alerts._default), list(errors._default)
    alerts._default.clear()
    errors._default.clear()
    try:
        assert monitoring.capture_error(ValueError("x")) is None
        assert monitoring.send_alert("error", "t", "m") is None
    finally:
        alerts._default[:] = saved_alerts
        errors._default[:] = saved_errors
