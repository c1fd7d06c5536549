from __future__ import annotations

import json
from typing import Any

import pytest

from ykmake.dashboards import (
    OVERVIEW_UID,
    dashboard_files,
    default_dashboards_dir,
    panel_queries,
    stale_dashboards,
    unexpected_dashboards,
)
from ykmake.stack import known_metric_names, load_slo_spec, metric_names, unknown_metrics
from ykmake.stack.render import default_deploy_dir

COMMITTED = default_dashboards_dir()


@pytest.fixture(scope="module")
def overview() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dashboard_files()[f"{OVERVIEW_UID}.json"])
    return data


def _panels(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in dashboard["panels"] if p["type"] != "row"}


def test_committed_json_matches_the_code() -> None:
    # Fails when src/ykmake/dashboards changed without `ykmake dashboards build`.
    assert stale_dashboards(COMMITTED) == []
    assert unexpected_dashboards(COMMITTED) == []


def test_committed_files_are_plain_json_without_comments() -> None:
    for path in COMMITTED.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        json.loads(text)  # the seed's JSON had // comments, which Grafana refuses
        assert "//" not in text.replace("://", "")


def test_identity_and_settings_users_of_the_seed_expect(overview: dict[str, Any]) -> None:
    assert overview["uid"] == "ykmake-overview"
    assert overview["title"] == "YkMake Overview Dashboard"
    assert overview["tags"] == ["ykmake", "overview"]
    assert overview["refresh"] == "15s"
    assert overview["time"] == {"from": "now-1h", "to": "now"}


def test_the_seeds_two_panels_keep_their_queries_with_variables(overview: dict[str, Any]) -> None:
    panels = _panels(overview)
    rate = panels["HTTP Request Rate by Status Code"]
    latency = panels["HTTP Request Latency (95th Percentile)"]

    assert rate["targets"][0]["expr"] == (
        'sum(rate(http_requests_total{job="$job", instance=~"$instance"}[5m])) by (status_code)'
    )
    assert rate["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert latency["targets"][0]["expr"] == (
        "histogram_quantile(0.95, sum by (le, method, path) (rate("
        'http_request_duration_seconds_bucket{job="$job", instance=~"$instance"}[5m]))) * 1000'
    )
    assert latency["targets"][0]["legendFormat"] == "{{method}} {{path}} - p95"
    assert latency["fieldConfig"]["defaults"]["unit"] == "ms"
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [
        (None, "green"),
        (500.0, "orange"),
        (1000.0, "red"),
    ]


def test_every_panel_the_seed_left_for_later_is_there(overview: dict[str, Any]) -> None:
    panels = _panels(overview)
    wanted = {
        "Error Ratio (5xx)": "http_requests_total",
        "HTTP Request Latency (p50 and p99)": "http_request_duration_seconds_bucket",
        "Requests In Progress": "http_requests_in_progress",
        "Active Users": "active_users",
        "Database Query Latency (p95) by Operation and Table": "db_query_duration_seconds_bucket",
        "Errors by Type": "errors_total",
        "CPU": "process_cpu_seconds_total",
        "Memory": "process_resident_memory_bytes",
        "Garbage Collection": "python_gc_collections_total",
        "SLO Error-Budget Burn Rate": "slo:sli_error:ratio_rate1h",
        "Error Budget Remaining": "slo:period_error_budget_remaining:ratio",
        "Firing Alerts": "ALERTS",
        "Event Loop Lag": "event_loop_lag_seconds",
    }
    for title, metric in wanted.items():
        exprs = [t["expr"] for t in panels[title]["targets"]]
        assert any(metric in metric_names(e) for e in exprs), title
    assert panels["Firing Alerts"]["targets"][0]["expr"] == 'ALERTS{alertstate="firing"}'


def test_variables_job_and_instance(overview: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in overview["templating"]["list"]}

    assert variables["job"]["query"] == "label_values(up, job)"
    assert variables["job"]["current"]["value"] == "ykmake"
    assert variables["instance"]["query"] == 'label_values(up{job="$job"}, instance)'
    assert variables["instance"]["includeAll"] is True
    assert variables["instance"]["allValue"] == ".*"
    app_panels = [
        expr
        for _, expr in panel_queries(overview)
        if not ({"ALERTS"} | {n for n in metric_names(expr) if n.startswith("slo:")})
        & metric_names(expr)
    ]
    assert app_panels
    assert all('job="$job", instance=~"$instance"' in expr for expr in app_panels)


def test_panels_use_the_provisioned_datasource_ids_are_unique_and_fit_the_grid(
    overview: dict[str, Any],
) -> None:
    ids = [p["id"] for p in overview["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in overview["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            assert all(t["datasource"]["uid"] == "prometheus" for t in panel["targets"])


def test_every_query_selects_a_metric_that_exists(overview: dict[str, Any]) -> None:
    spec = load_slo_spec(default_deploy_dir() / "slo.yml")
    assert unknown_metrics(panel_queries(overview), known_metric_names(spec)) == []
