from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.stack._paths import DEPLOY
from ykmake.stack import (
    SloSpecError,
    generate_deploy_files,
    known_metric_names,
    load_slo_spec,
    parse_slo_spec,
    rule_queries,
    stale_generated,
    unknown_metrics,
    write_generated,
)
from ykmake.stack.exported_metrics import DB_QUERY_BUCKETS, HTTP_DURATION_BUCKETS, format_le
from ykmake.stack.metric_check import rule_groups
from ykmake.stack.rules_slo import BURN_ALERTS


def _spec(objective: float = 99.9, job: str = "ykmake", period: str = "30d") -> Any:
    return parse_slo_spec(
        {
            "service": "ykmake",
            "job": job,
            "period": period,
            "exclude_paths": ["/metrics", "/health"],
            "slos": [
                {"name": "availability", "objective": objective},
                {"name": "latency", "objective": 95, "threshold_seconds": 0.5},
            ],
        }
    )


def _rules(files: dict[str, str], name: str) -> list[dict[str, Any]]:
    groups = yaml.safe_load(files[f"prometheus/rules/{name}"])["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_committed_rules_and_rule_tests_match_the_generator() -> None:
    # Fails when deploy/slo.yml or the generator changed without `ykmake stack rules`.
    assert stale_generated(DEPLOY) == []


def test_write_generated_rewrites_only_what_changed(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    assert write_generated(deploy).changed == []

    slo = deploy / "slo.yml"
    slo.write_text(slo.read_text(encoding="utf-8").replace("99.9", "99.5"), encoding="utf-8")
    assert stale_generated(deploy) == ["prometheus/rules/slo.yml", "prometheus/tests/slo_test.yml"]
    written = write_generated(deploy)

    assert sorted(p.name for p in written.changed) == ["slo.yml", "slo_test.yml"]
    assert sorted(p.name for p in written.unchanged) == [
        "alerts.yml",
        "dependencies.yml",
        "recording.yml",
    ]
    assert stale_generated(deploy) == []


def test_changing_the_objective_changes_every_rule_that_depends_on_it() -> None:
    before = _rules(generate_deploy_files(_spec(99.9)), "slo.yml")
    after = _rules(generate_deploy_files(_spec(99.5)), "slo.yml")

    changed = {
        (r.get("record") or r["alert"], r["labels"].get("severity"))
        for r, s in zip(before, after, strict=True)
        if r["labels"].get("slo", "availability") == "availability" and r != s
    }
    # Every availability alert (page and ticket) and the objective and budget records move.
    assert ("YkMakeAvailabilityErrorBudgetBurn", "critical") in changed
    assert ("YkMakeAvailabilityErrorBudgetBurn", "warning") in changed
    assert ("slo:objective:ratio", None) in changed
    assert ("slo:error_budget:ratio", None) in changed
    assert "(14.4 * 0.005)" in yaml.safe_dump(after)
    # The SLI itself (the share of bad requests) does not depend on the objective.
    assert not any(name.startswith("slo:sli_error") for name, _ in changed)


def test_changing_the_job_changes_every_rule() -> None:
    before = [r["expr"] for r in rule_groups(_spec(job="ykmake")) for r in r["rules"]]
    after = [r["expr"] for r in rule_groups(_spec(job="shop")) for r in r["rules"]]
    selecting_raw = [
        (b, a) for b, a in zip(before, after, strict=True) if 'job="ykmake"' in b or "job!=" in b
    ]

    assert selecting_raw
    assert all(b != a and "shop" in a for b, a in selecting_raw)


@pytest.mark.parametrize(
    ("period", "factors"),
    [("30d", [14.4, 6.0, 3.0, 1.0]), ("28d", [13.44, 5.6, 2.8, 0.9333])],
)
def test_burn_factors_follow_the_workbook(period: str, factors: list[float]) -> None:
    hours = _spec(period=period).period_hours
    assert [w.factor(hours) for a in BURN_ALERTS for w in a.windows] == factors


def test_slo_alerts_pair_a_long_and_a_short_window_with_page_and_ticket() -> None:
    alerts = [r for r in _rules(generate_deploy_files(_spec()), "slo.yml") if "alert" in r]

    assert [(a["alert"], a["labels"]) for a in alerts] == [
        (name, {"severity": severity, "sloth_severity": sloth})
        for name in ("YkMakeAvailabilityErrorBudgetBurn", "YkMakeLatencyErrorBudgetBurn")
        for severity, sloth in (("critical", "page"), ("warning", "ticket"))
    ]
    page = alerts[0]["expr"]
    assert "ratio_rate5m" in page
    assert "ratio_rate1h" in page
    assert "(14.4 * 0.001)" in page
    assert "ratio_rate30m" in page
    assert "ratio_rate6h" in page
    assert "(6 * 0.001)" in page


def test_latency_sli_reads_the_bucket_label_as_prometheus_client_writes_it() -> None:
    files = generate_deploy_files(_spec())
    assert 'le="0.5"' in files["prometheus/rules/slo.yml"]
    # prometheus_client writes whole-number bounds with ".0"; Prometheus 2 compares strings.
    assert [format_le(b) for b in HTTP_DURATION_BUCKETS] == [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0"
    ]  # fmt: skip
    assert format_le(DB_QUERY_BUCKETS[-1]) == "1.0"


def test_excluded_paths_stay_out_of_the_sli() -> None:
    slo = generate_deploy_files(_spec())["prometheus/rules/slo.yml"]
    sli = [line for line in slo.splitlines() if "http_request" in line]
    assert sli
    assert all('path!~"/metrics|/health"' in line for line in sli)


def test_an_objective_too_low_for_a_page_is_refused() -> None:
    with pytest.raises(SloSpecError, match="raise the objective"):
        generate_deploy_files(_spec(objective=92))


def test_rules_query_only_metrics_the_app_exports_or_rules_record() -> None:
    spec = load_slo_spec(DEPLOY / "slo.yml")
    assert unknown_metrics(rule_queries(spec), known_metric_names(spec)) == []


def test_unknown_metrics_are_reported() -> None:
    known = frozenset({"a_total"})
    assert unknown_metrics([("r", "rate(a_total[5m]) / b")], known) == [("r", "b")]


def _alert_tests() -> list[dict[str, Any]]:
    checks = []
    for path in sorted((DEPLOY / "prometheus" / "tests").glob("*.yml")):
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            checks += test.get("alert_rule_test", [])
    return checks


def test_every_alert_has_a_rule_test_where_it_fires_and_one_where_it_stays_silent() -> None:
    spec = load_slo_spec(DEPLOY / "slo.yml")
    alerts = {
        (rule["alert"], rule["labels"]["severity"])
        for group in rule_groups(spec)
        for rule in group["rules"]
        if "alert" in rule
    }
    checks = _alert_tests()
    fired = {(c["alertname"], a["exp_labels"]["severity"]) for c in checks for a in c["exp_alerts"]}
    silent = {c["alertname"] for c in checks if not c["exp_alerts"]}

    assert alerts - fired == set()
    assert {name for name, _ in alerts} - silent == set()


def test_every_rule_file_is_loaded_and_every_test_file_targets_a_rule_file() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    loaded = {p for pattern in config["rule_files"] for p in (DEPLOY / "prometheus").glob(pattern)}
    assert loaded == set((DEPLOY / "prometheus" / "rules").glob("*.yml"))

    tests = DEPLOY / "prometheus" / "tests"
    for path in tests.glob("*.yml"):
        for rule_file in yaml.safe_load(path.read_text(encoding="utf-8"))["rule_files"]:
            assert (tests / rule_file).resolve() in {p.resolve() for p in loaded}
