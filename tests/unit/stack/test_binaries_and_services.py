from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.stack._paths import DEPLOY
from ykmake.stack import (
    MissingBinaryError,
    RenderOptions,
    StackError,
    StackPorts,
    alertmanager_service,
    find_binary,
    grafana_service,
    node_exporter_service,
    prometheus_service,
    render_stack,
    which_binary,
)


def _executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("tool", "package"),
    [
        ("promtool", "apt-get install prometheus"),
        ("amtool", "apt-get install prometheus-alertmanager"),
        ("alertmanager", "apt-get install prometheus-alertmanager"),
        ("node-exporter", "apt-get install prometheus-node-exporter"),
        ("grafana", "apt-get install grafana"),
    ],
)
def test_missing_binary_names_the_package(tmp_path: Path, tool: str, package: str) -> None:
    with pytest.raises(MissingBinaryError, match="not found on PATH") as caught:
        find_binary(tool, path=str(tmp_path))
    assert package in str(caught.value)
    assert which_binary(tool, path=str(tmp_path)) is None


def test_debian_and_upstream_names_are_both_found(tmp_path: Path) -> None:
    upstream = _executable(tmp_path, "alertmanager")
    assert find_binary("alertmanager", path=str(tmp_path)) == upstream
    debian = _executable(tmp_path, "prometheus-alertmanager")
    assert find_binary("alertmanager", path=str(tmp_path)) == debian


def test_service_command_lines_listen_on_loopback_with_the_rendered_files(tmp_path: Path) -> None:
    ports = StackPorts(prometheus=19090, alertmanager=19093, grafana=13001, node_exporter=19100)
    rendered = render_stack(tmp_path, deploy_dir=DEPLOY, ports=ports)
    binary = Path("/usr/bin/x")

    prometheus = prometheus_service(rendered, binary)
    assert f"--config.file={rendered.prometheus_config}" in prometheus.argv
    assert "--web.listen-address=127.0.0.1:19090" in prometheus.argv
    # Links in alerts name the loopback URL, not the machine's hostname.
    assert "--web.external-url=http://127.0.0.1:19090" in prometheus.argv
    assert prometheus.ready_url == "http://127.0.0.1:19090/-/ready"

    alertmanager = alertmanager_service(rendered, binary)
    assert "--web.listen-address=127.0.0.1:19093" in alertmanager.argv
    assert "--web.external-url=http://127.0.0.1:19093" in alertmanager.argv
    # No gossip port: parallel test stacks must not fight over 9094.
    assert "--cluster.listen-address=" in alertmanager.argv

    assert "--web.listen-address=127.0.0.1:19100" in node_exporter_service(rendered, binary).argv
    grafana = grafana_service(rendered, binary)
    assert f"--config={rendered.grafana_config}" in grafana.argv
    assert grafana.ready_url == "http://127.0.0.1:13001/api/health"


@pytest.mark.parametrize("public_url", ["https://mon.example.com", "https://mon.example.com/"])
def test_a_public_url_goes_into_the_links_and_the_routes_stay_at_the_root(
    tmp_path: Path, public_url: str
) -> None:
    rendered = render_stack(
        tmp_path, deploy_dir=DEPLOY, options=RenderOptions(public_url=public_url)
    )
    binary = Path("/usr/bin/x")

    prometheus = prometheus_service(rendered, binary)
    alertmanager = alertmanager_service(rendered, binary)

    assert "--web.external-url=https://mon.example.com/prometheus" in prometheus.argv
    assert "--web.external-url=https://mon.example.com/alertmanager" in alertmanager.argv
    # The path is the proxy's: on loopback both still answer at the root.
    for spec in (prometheus, alertmanager):
        assert "--web.route-prefix=/" in spec.argv
    assert prometheus.ready_url == "http://127.0.0.1:9090/-/ready"
    assert rendered.url("alertmanager") == "http://127.0.0.1:9093"


@pytest.mark.parametrize(
    "public_url",
    ["mon.example.com", "ftp://mon.example.com", "https://", "https://x/?a=1", "https://u:p@x"],
)
def test_a_public_url_must_be_an_http_base_url(public_url: str) -> None:
    with pytest.raises(StackError, match="public URL") as caught:
        RenderOptions(public_url=public_url)
    assert "u:p" not in str(caught.value)
