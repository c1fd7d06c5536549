from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.stack._paths import DEPLOY
from ykmake.stack import RenderOptions, StackPorts, StackSecrets, render_stack
from ykmake.stack.render import render_alertmanager_config, render_prometheus_config

PORTS = StackPorts(
    prometheus=19090, alertmanager=19093, grafana=13001, node_exporter=19100, app=18000
)
SECRETS = StackSecrets("metrics-secret", "webhook-secret", "https://hooks.slack.test/x")


def _load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / relative).read_text(encoding="utf-8"))
    return data


def _prometheus(secrets: StackSecrets = SECRETS, **options: Any) -> dict[str, Any]:
    return render_prometheus_config(
        _load("prometheus/prometheus.yml"),
        deploy_dir=DEPLOY,
        ports=PORTS,
        secrets_dir=Path("/data/secrets"),
        secrets=secrets,
        options=RenderOptions(**options),
    )


def _alertmanager(secrets: StackSecrets = SECRETS, **options: Any) -> dict[str, Any]:
    return render_alertmanager_config(
        _load("alertmanager/alertmanager.yml"),
        ports=PORTS,
        secrets_dir=Path("/data/secrets"),
        secrets=secrets,
        options=RenderOptions(**options),
    )


def _targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]]
        for job in config["scrape_configs"]
    }


def test_prometheus_targets_become_loopback_ports() -> None:
    config = _prometheus()

    assert _targets(config) == {
        "prometheus": ["127.0.0.1:19090"],
        "ykmake": ["127.0.0.1:18000"],
        "alertmanager": ["127.0.0.1:19093"],
        "node-exporter": ["127.0.0.1:19100"],
    }
    managers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert managers == ["127.0.0.1:19093"]


def test_prometheus_rule_files_become_absolute_and_extra_rules_are_added(tmp_path: Path) -> None:
    extra = tmp_path / "short.yml"
    config = _prometheus(extra_rule_files=(extra,), scrape_interval="1s", evaluation_interval="2s")

    assert config["rule_files"] == [str(DEPLOY.resolve() / "prometheus/rules/*.yml"), str(extra)]
    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "2s"}


def test_scrape_token_file_is_the_rendered_one_or_absent_without_a_token() -> None:
    app = next(j for j in _prometheus()["scrape_configs"] if j["job_name"] == "ykmake")
    assert app["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/data/secrets/metrics_token",
    }

    anonymous = next(
        j for j in _prometheus(StackSecrets())["scrape_configs"] if j["job_name"] == "ykmake"
    )
    assert "authorization" not in anonymous


def test_node_exporter_job_can_be_left_out() -> None:
    assert "node-exporter" not in _targets(_prometheus(node_exporter=False))


def test_alertmanager_webhook_points_at_the_app_on_loopback_with_its_token() -> None:
    config = _alertmanager()
    hook = next(r for r in config["receivers"] if r["name"] == "ykmake-webhook")
    webhook = hook["webhook_configs"][0]

    assert webhook["url"] == "http://127.0.0.1:18000/api/alertmanager/webhook"
    assert webhook["http_config"]["authorization"]["credentials_file"] == (
        "/data/secrets/alertmanager_webhook_token"
    )
    slack = next(r for r in config["receivers"] if r["name"] == "slack-direct")
    assert slack["slack_configs"][0]["api_url_file"] == "/data/secrets/slack_webhook_url"


def test_without_a_slack_url_the_direct_receiver_and_its_route_go() -> None:
    config = _alertmanager(StackSecrets("m", "w", None))

    assert [r["name"] for r in config["receivers"]] == ["ykmake-webhook"]
    assert all(r["receiver"] != "slack-direct" for r in config["route"]["routes"])
    assert config["inhibit_rules"] == _load("alertmanager/alertmanager.yml")["inhibit_rules"]


def test_timings_override_the_root_and_only_the_children_that_set_their_own() -> None:
    source = _load("alertmanager/alertmanager.yml")["route"]
    route = _alertmanager(group_wait="1s", group_interval="2s", repeat_interval="1m")["route"]

    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "1s",
        "2s",
        "1m",
    )
    for child, original in zip(route["routes"], source["routes"], strict=True):
        for key in ("group_wait", "group_interval", "repeat_interval"):
            assert (key in child) == (key in original)


def test_unknown_target_host_is_an_error() -> None:
    source = _load("prometheus/prometheus.yml")
    source["scrape_configs"][0]["static_configs"][0]["targets"] = ["elsewhere:1"]
    with pytest.raises(ValueError, match="elsewhere:1"):
        render_prometheus_config(
            source,
            deploy_dir=DEPLOY,
            ports=PORTS,
            secrets_dir=Path("/s"),
            secrets=SECRETS,
            options=RenderOptions(),
        )


def test_render_stack_writes_configs_and_private_secret_files(tmp_path: Path) -> None:
    rendered = render_stack(tmp_path / "stack", deploy_dir=DEPLOY, ports=PORTS, secrets=SECRETS)

    assert rendered.url("prometheus") == "http://127.0.0.1:19090"
    assert yaml.safe_load(rendered.prometheus_config.read_text(encoding="utf-8"))["rule_files"]
    assert yaml.safe_load(rendered.alertmanager_config.read_text(encoding="utf-8"))["receivers"]
    token = tmp_path / "stack" / "secrets" / "metrics_token"
    assert token.read_text(encoding="utf-8") == "metrics-secret"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    assert rendered.prometheus_data.is_dir()
    assert rendered.alertmanager_data.is_dir()
    assert "metrics-secret" not in repr(rendered) + repr(SECRETS)


def test_render_stack_grafana_points_at_loopback_and_the_committed_dashboards(
    tmp_path: Path,
) -> None:
    rendered = render_stack(tmp_path, deploy_dir=DEPLOY, ports=PORTS)
    provisioning = rendered.grafana_home / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text("utf-8"))
    provider = yaml.safe_load((provisioning / "dashboards/provider.yml").read_text("utf-8"))
    ini = rendered.grafana_config.read_text(encoding="utf-8")

    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:19090"
    assert datasource["datasources"][0]["uid"] == "prometheus"
    assert provider["providers"][0]["options"]["path"] == str(
        DEPLOY.resolve() / "grafana/dashboards"
    )
    assert "http_port = 13001" in ini
    assert "http_addr = 127.0.0.1" in ini


def test_rerendering_without_a_token_removes_the_old_token_file(tmp_path: Path) -> None:
    render_stack(tmp_path, deploy_dir=DEPLOY, secrets=SECRETS)
    render_stack(tmp_path, deploy_dir=DEPLOY, secrets=StackSecrets())

    assert not (tmp_path / "secrets" / "metrics_token").exists()
