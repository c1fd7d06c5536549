from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.stack._paths import DEPLOY
from ykmake.stack import SloSpecError, load_slo_spec, parse_slo_spec


def _spec(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "service": "ykmake",
        "job": "ykmake",
        "period": "30d",
        "exclude_paths": ["/metrics"],
        "slos": [
            {"name": "availability", "objective": 99.9},
            {"name": "latency", "objective": 95, "threshold_seconds": 0.5},
        ],
    }
    data.update(changes)
    return data


def test_committed_definition_is_the_documented_default() -> None:
    spec = load_slo_spec(DEPLOY / "slo.yml")

    assert (spec.service, spec.job, spec.period, spec.period_hours) == (
        "ykmake",
        "ykmake",
        "30d",
        720,
    )
    availability, latency = spec.objectives
    assert (availability.sli, availability.target, availability.error_budget) == (
        "availability",
        0.999,
        0.001,
    )
    assert (latency.sli, latency.target, latency.latency_threshold) == ("latency", 0.95, 0.5)
    assert availability.alert_name == "YkMakeAvailabilityErrorBudgetBurn"
    assert spec.exclude_paths == ("/metrics", "/health")


@pytest.mark.parametrize(("period", "hours"), [("30d", 720), ("4w", 672), ("12h", 12)])
def test_period_units(period: str, hours: int) -> None:
    assert parse_slo_spec(_spec(period=period)).period_hours == hours


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"service": "has space"}, "service='has space' is invalid"),
        ({"job": None}, "job=None is invalid"),
        ({"period": "30x"}, "period='30x' is invalid"),
        ({"period": "0d"}, "period='0d' is invalid"),
        ({"exclude_paths": ["metrics"]}, "exclude_paths=['metrics'] is invalid"),
        ({"exclude_paths": ["/a|b"]}, "is invalid"),
        ({"slos": []}, "slos is missing"),
        ({"slos": [{"name": "Bad-Name", "objective": 99}]}, "name='Bad-Name' is invalid"),
        ({"slos": [{"name": "x", "sli": "saturation", "objective": 99}]}, "sli='saturation'"),
        ({"slos": [{"name": "availability", "objective": 100}]}, "objective=100 is invalid"),
        ({"slos": [{"name": "availability", "objective": "high"}]}, "objective='high'"),
        ({"slos": [{"name": "availability", "objective": True}]}, "objective=True"),
        ({"slos": [{"name": "latency", "objective": 95, "threshold_seconds": 0.3}]}, "buckets"),
        ({"slos": [{"name": "latency", "objective": 95}]}, "threshold_seconds=None"),
        (
            {"slos": [{"name": "availability", "objective": 99, "threshold_seconds": 0.5}]},
            "latency SLOs only",
        ),
        (
            {"slos": [{"name": "availability", "objective": 99}] * 2},
            "must be unique",
        ),
    ],
)
def test_bad_values_name_the_key_and_value(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SloSpecError, match="slo spec") as caught:
        parse_slo_spec(_spec(**changes))

    assert message in str(caught.value)


def test_not_a_mapping() -> None:
    with pytest.raises(SloSpecError, match="expected a mapping"):
        parse_slo_spec(["service"])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SloSpecError, match="cannot read"):
        load_slo_spec(tmp_path / "absent.yml")
    bad = tmp_path / "slo.yml"
    bad.write_text("service: [unclosed", encoding="utf-8")
    with pytest.raises(SloSpecError, match="not valid YAML"):
        load_slo_spec(bad)
