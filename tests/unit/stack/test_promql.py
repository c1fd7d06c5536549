from __future__ import annotations

import pytest

from ykmake.stack.promql import metric_names, number


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum(rate(http_requests_total{job="ykmake"}[5m])) by (status_code)',
            {"http_requests_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, path) (rate(x_bucket[$__rate_interval]))) * 1000",
            {"x_bucket"},
        ),
        ("a / on (service, slo) group_left b:ratio", {"a", "b:ratio"}),
        ("a > 1e3 and ignoring (x) b offset 5m unless c[1h:5m]", {"a", "b", "c"}),
        ('ALERTS{alertstate="firing"}', {"ALERTS"}),
        ('label_replace(x, "dst", "$1", "src", "(.*)")', {"x"}),
        ('up{job="a", path=~"/x{id}|/y"} == 0', {"up"}),
        ("vector(0.001)", set()),
        ("(sum(a) or vector(0)) / sum(b)", {"a", "b"}),
        ("max by (job) (x) > bool 0.5", {"x"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    ("value", "text"),
    [(1073741824, "1073741824"), (2.0, "2"), (0.001, "0.001"), (14.4, "14.4"), (0.0005, "0.0005")],
)
def test_number_is_exact(value: float, text: str) -> None:
    assert number(value) == text
