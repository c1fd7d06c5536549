from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.stack.fake_app import fake_app
from tests.integration.stack.harness import (
    port_refused,
    require_binaries,
    running_stack,
    wait_until,
)
from ykmake.stack import ServiceStartError

pytestmark = pytest.mark.integration

PROBE_RULES = {
    "groups": [
        {
            "name": "harness-probe",
            "rules": [
                {
                    "alert": "HarnessProbe",
                    "expr": "vector(1)",
                    "labels": {"severity": "warning", "service": "ykmake"},
                    "annotations": {"summary": "the harness' always-firing alert"},
                }
            ],
        }
    ]
}


def test_prometheus_scrapes_itself_and_loads_every_rule_group(tmp_path: Path) -> None:
    with running_stack(tmp_path, alertmanager=False) as stack:
        up = stack.wait_for_query('up{job="prometheus"} == 1')
        built = stack.query("prometheus_build_info")
        groups = stack.rule_groups()

    assert up[0]["metric"]["instance"] == f"127.0.0.1:{stack.rendered.ports.prometheus}"
    assert built
    assert {"ykmake-http-recording", "ykmake-slo-availability-sli", "ykmake-alerts"} <= set(groups)


def test_tokens_reach_the_app_and_alerts_reach_its_webhook(tmp_path: Path) -> None:
    rules = tmp_path / "probe.yml"
    rules.write_text(yaml.safe_dump(PROBE_RULES), encoding="utf-8")

    with (
        fake_app("metrics-secret") as app,
        running_stack(
            tmp_path / "stack",
            app_port=app.port,
            metrics_token="metrics-secret",
            webhook_token="webhook-secret",
            extra_rule_files=(rules,),
        ) as stack,
    ):
        scraped = stack.wait_for_query('http_requests_total{job="ykmake"}')
        recorded = stack.wait_for_query("job_method_path:http_requests:rate5m")
        alert = stack.wait_for_alert("HarnessProbe")
        wait_until(lambda: app.webhooks, 30.0, 0.1)

    assert scraped[0]["metric"]["path"] == "/api/products"
    assert recorded[0]["metric"]["path"] == "/api/products"
    assert set(app.scrape_auth) == {"Bearer metrics-secret"}
    assert alert["labels"]["severity"] == "warning"
    authorization, payload = app.webhooks[0]
    assert authorization == "Bearer webhook-secret"
    assert payload["status"] == "firing"
    assert payload["alerts"][0]["labels"]["alertname"] == "HarnessProbe"


def test_processes_are_stopped_when_the_block_ends(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        ports = [stack.rendered.ports.prometheus, stack.rendered.ports.alertmanager]
        assert not any(port_refused(p) for p in ports)

    assert all(s.process.poll() is not None for s in stack.services)
    assert all(port_refused(p) for p in ports)


def test_a_process_that_cannot_start_fails_with_its_log_and_stops_the_rest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("groups: [{name: x, rules: [{record: bad, expr: 'sum('}]}]\n", "utf-8")

    with (
        pytest.raises(ServiceStartError, match="prometheus exited") as caught,
        running_stack(tmp_path / "stack", extra_rule_files=(broken,)),
    ):
        pass  # pragma: no cover - never reached

    assert "broken.yml" in str(caught.value)
    rendered = yaml.safe_load((tmp_path / "stack/prometheus/prometheus.yml").read_text("utf-8"))
    manager = rendered["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert port_refused(int(manager.rsplit(":", 1)[1]))


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_binary_skips_locally_and_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match="apt-get install prometheus"):
        require_binaries("promtool")
