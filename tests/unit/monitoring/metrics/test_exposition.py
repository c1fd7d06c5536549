"""`render` must read back exactly like prometheus_client's own exposition, plus const labels."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
    metrics,
    values,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics import exposition as om_exposition
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as _parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as _parse_text
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar, NativeHistogram, Timestamp

from ykmake.monitoring.metrics import _prefix_cache
from ykmake.monitoring.metrics.exposition import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    choose_format,
    render,
)

APP = {"app": "ykmake"}
ODD_VALUES = ['say "hi"', "back\\slash", "new\nline", "unicode ✓ 한국어 🚀", "", "\\n literal"]
PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)

Row = tuple[Any, ...]

# prometheus_client leaves these unannotated; typed views keep mypy --strict meaningful here.
parse_text = cast(Callable[[str], Iterable[Metric]], _parse_text)
parse_openmetrics = cast(Callable[[str], Iterable[Metric]], _parse_openmetrics)
generate_openmetrics = cast(Callable[[Collector], bytes], om_exposition.generate_latest)
multiprocess_value = cast(Callable[[Callable[[], int]], type], values.MultiProcessValue)
close_multiprocess_files = cast(Callable[[], None], values.close_all_multiprocess_files)
multiprocess_collector = cast(Callable[..., Collector], MultiProcessCollector)


def _rows(families: Iterable[Metric], extra: Mapping[str, str]) -> list[Row]:
    """Every parsed sample with its family, `extra` labels added under the sample's own."""
    rows: list[Row] = []
    for family in families:
        for s in family.samples:
            value = "NaN" if math.isnan(s.value) else s.value
            labels = sorted({**extra, **s.labels}.items())
            meta = (family.name, family.type, family.documentation, family.unit)
            rows.append((*meta, s.name, labels, value, s.timestamp, s.exemplar))
    return rows


def assert_same_as_upstream(source: Collector, const: Mapping[str, str] = APP) -> list[Row]:
    """render() == upstream in both formats, as each format's parser reads them."""
    theirs = _rows(parse_text(generate_latest(source).decode()), const)
    ours = _rows(parse_text(render(source, const_labels=const).decode()), {})
    assert ours == theirs
    assert_openmetrics_same_as_upstream(source, const)
    return ours


def assert_openmetrics_same_as_upstream(source: Collector, const: Mapping[str, str] = APP) -> None:
    theirs = _rows(parse_openmetrics(generate_openmetrics(source).decode()), const)
    ours = render(source, const_labels=const, openmetrics=True).decode()
    assert _rows(parse_openmetrics(ours), {}) == theirs


def _wrapper_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    plain = Counter("jobs", "Jobs run.", registry=reg)
    plain.inc(3, exemplar={"trace_id": "abc123"})
    requests = Counter(
        "http_requests", "HTTP requests.", ["method", "path", "status_code"], registry=reg
    )
    requests.labels("GET", "/users/{id}", "200").inc(7)
    requests.labels("POST", "/users", "500").inc(1, exemplar={"trace_id": "9f2c"})
    odd = Gauge("odd_labels", "Label values that need escaping.", ["value"], registry=reg)
    for i, text in enumerate(ODD_VALUES):
        odd.labels(text).set(i)
    special = Gauge("special_values", "NaN and infinities.", ["kind"], registry=reg)
    for kind, number in [("nan", math.nan), ("inf", math.inf), ("ninf", -math.inf)]:
        special.labels(kind).set(number)
    special.labels("big").set(1234567890123.5)
    special.labels("tiny").set(-1e-9)
    special.labels("negzero").set(-0.0)
    Gauge("temperature", "With a unit.", unit="celsius", registry=reg).set(21.5)
    Gauge("from_function", "set_function.", registry=reg).set_function(lambda: 42)
    latency = Histogram(
        "http_request_duration_seconds", "Latency.", ["method"], registry=reg,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )  # fmt: skip
    latency.labels("GET").observe(0.3, exemplar={"trace_id": "t-1"})
    latency.labels("GET").observe(7)
    latency.labels("POST").observe(0.001)
    sizes = Summary("payload_bytes", "Sizes.", ["route"], registry=reg)
    sizes.labels("/a").observe(512)
    Info("build", 'Build "info"\nwith \\ escapes.', registry=reg).info(
        {"version": "1.2.3", "commit": "abc"}
    )
    Info("host", "Labelled info.", ["role"], registry=reg).labels("web").info({"zone": "a"})
    Enum("state", "Enum.", states=["up", "down"], registry=reg).state("down")
    Enum("worker_state", "Enum.", ["w"], states=["idle", "busy"], registry=reg).labels("1")
    Counter("unused_labelled", "No children yet.", ["x"], registry=reg)
    return reg


class _CustomCollector:
    """Families built by hand, as exporters and bridges do."""

    def collect(self) -> Iterator[Metric]:
        help_text = 'Help with \\ and\nnewline and "quotes".'
        g = GaugeMetricFamily("queue_depth", help_text, labels=["q"])
        g.add_metric(["default"], 3, timestamp=1700000000.5)
        g.add_metric(["urgent"], 1, timestamp=Timestamp(1700000001, 250_000_000))
        yield g
        c = CounterMetricFamily("bridge_events", "Events.", labels=["kind"], created=1700000000.0)
        c.add_metric(["a"], 5, exemplar=Exemplar({"trace_id": "x"}, 1.0, 1700000000.25))
        yield c
        yield UnknownMetricFamily("legacy_thing", "Untyped.", value=2)
        s = StateSetMetricFamily("feature_flags", "Flags.")
        s.add_metric([], {"dark_mode": True, "beta": False})
        yield s
        yield InfoMetricFamily("exporter", "Exporter info.", value={"version": "9"})
        gh = GaugeHistogramMetricFamily("inflight_age", "GH.", labels=["pool"])
        gh.add_metric(["p1"], [("1", 1), ("+Inf", 4)], gsum_value=3.5)
        yield gh
        yield SummaryMetricFamily("rpc", "Summary family.", count_value=4, sum_value=2.0)
        h = HistogramMetricFamily("jobs_wait", "Histogram family.", labels=["pool"])
        h.add_metric(
            ["p1"],
            [("1.0", 1, Exemplar({"trace_id": "b1"}, 0.5)), ("+Inf", 2)],
            sum_value=3.0,
        )
        yield h


def _custom_registry() -> CollectorRegistry:
    reg = CollectorRegistry(target_info={"service": "ykmake", "env": "test"})
    reg.register(_CustomCollector())
    return reg


class _CountingCounter(Counter):
    """A subclass that changes collect(): must not take the direct-read path."""

    def collect(self) -> Iterable[Metric]:
        families = list(super().collect())
        families[0].add_sample("counting_total", {"extra": "yes"}, 99.0)
        return families


def _subclass_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    _CountingCounter("counting", "Subclass.", registry=reg).inc()
    return reg


def _restricted() -> Collector:
    return _wrapper_registry().restricted_registry(["http_requests_total", "state"])


@pytest.mark.parametrize(
    "build",
    [_wrapper_registry, _custom_registry, _subclass_registry, _restricted, CollectorRegistry],
)
def test_matches_upstream_sample_for_sample(build: Callable[[], Collector]) -> None:
    assert_same_as_upstream(build())


def test_every_sample_carries_const_labels() -> None:
    const = {"app": "ykmake", "instance": "a-1"}
    for om in (False, True):
        parse = parse_openmetrics if om else parse_text
        text = render(_wrapper_registry(), const_labels=const, openmetrics=om).decode()
        samples = [s for family in parse(text) for s in family.samples]
        assert samples
        assert all(s.labels.items() >= const.items() for s in samples)


def test_sample_label_wins_over_const_label() -> None:
    reg = CollectorRegistry()
    Gauge("owned", "Has its own app label.", ["app"], registry=reg).labels("other").set(1)
    text = render(reg, const_labels={"app": "ykmake"}).decode()
    assert 'owned{app="other"} 1.0' in text
    assert_same_as_upstream(reg)


def test_without_const_labels_unlabelled_samples_have_no_braces() -> None:
    reg = CollectorRegistry()
    Gauge("bare", "No labels.", registry=reg).set(2)
    assert render(reg).decode().splitlines()[-1] == "bare 2.0"
    assert_same_as_upstream(reg, const={})


def test_formats_end_and_encode_as_upstream() -> None:
    reg = _wrapper_registry()
    assert render(reg, openmetrics=True).endswith(b"# EOF\n")
    assert b"# EOF" not in render(reg)
    assert "한국어".encode() in render(reg)


def test_large_registry_round_trips() -> None:
    reg = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ["method", "path", "status"], registry=reg)
    latency = Histogram("http_request_duration_seconds", "Latency.", ["method", "path"],
                        registry=reg)  # fmt: skip
    for route in range(300):  # > 10k samples even without _created series
        for method in ("GET", "POST"):
            path = f"/api/v1/items{route}/{{id}}"
            for status in ("200", "404", "500"):
                requests.labels(method, path, status).inc(route + 1)
            latency.labels(method, path).observe(route / 100)
    first = render(reg, const_labels=APP)  # fills the prefix cache
    rows = assert_same_as_upstream(reg)  # renders again, from the cache
    assert len(rows) > 10_000
    assert render(reg, const_labels=APP) == first


def test_scrapes_follow_changes() -> None:
    reg = CollectorRegistry()
    counter = Counter("changing", "Changes between scrapes.", ["k"], registry=reg)
    counter.labels("a").inc()
    first = render(reg)
    counter.labels("a").inc(2)
    counter.labels("b").inc()
    assert render(reg) != first
    assert_same_as_upstream(reg)
    counter.remove("a")
    assert b'k="a"' not in render(reg)
    assert_same_as_upstream(reg)


def test_same_name_with_other_label_names_in_another_registry() -> None:
    # Direct-read cache keys hold label values only; label names must not leak across.
    one, two = CollectorRegistry(), CollectorRegistry()
    Counter("shared", "One.", ["method"], registry=one).labels("GET").inc()
    Counter("shared", "Two.", ["verb"], registry=two).labels("GET").inc()
    assert_same_as_upstream(one)
    assert_same_as_upstream(two)


def test_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_prefix_cache, "MAX_ENTRIES", 5)
    reg = _wrapper_registry()
    assert_same_as_upstream(reg, const={"bounded": "yes"})
    cache = _prefix_cache.get_cache(openmetrics=False, const_labels={"bounded": "yes"})
    assert len(cache) <= 5


def test_many_const_label_sets_stay_correct() -> None:
    reg = _wrapper_registry()
    for i in range(20):  # more configurations than the module keeps caches for
        assert_same_as_upstream(reg, const={"shard": str(i)})


@pytest.mark.parametrize("created", [True, False])
def test_created_series_follow_upstream_switch(
    created: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What disable_created_metrics() / PROMETHEUS_DISABLE_CREATED_SERIES set; restored after.
    monkeypatch.setattr(metrics, "_use_created", created)
    reg = _wrapper_registry()
    assert (b"_created" in render(reg)) is created
    assert_same_as_upstream(reg)


def test_multiprocess_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", multiprocess_value(lambda: 4242))
    try:
        worker = CollectorRegistry()
        Counter("mp_requests", "Requests.", ["path"], registry=worker).labels("/a").inc(3)
        Histogram("mp_seconds", "Latency.", registry=worker, buckets=(0.1, 1)).observe(0.5)
        Gauge("mp_inflight", "In flight.", registry=worker).set(2)
        Gauge("mp_max", "Max.", registry=worker, multiprocess_mode="max").set(7)
        assert_same_as_upstream(worker)  # mmap-backed values read directly
        scrape = CollectorRegistry()
        multiprocess_collector(scrape, path=str(tmp_path))
        rows = assert_same_as_upstream(scrape)
        assert any(row[4] == "mp_requests_total" and row[6] == 3.0 for row in rows)
    finally:
        close_multiprocess_files()


def test_exemplar_on_a_gauge_is_refused_like_upstream() -> None:
    class _BadExemplar:
        def collect(self) -> Iterator[Metric]:
            g = GaugeMetricFamily("bad", "Exemplar on a gauge.")
            g.add_sample("bad", {}, 1.0, exemplar=Exemplar({"trace_id": "x"}, 1.0))
            yield g

    with pytest.raises(ValueError, match="exemplars"):
        generate_openmetrics(_BadExemplar())
    with pytest.raises(ValueError, match="exemplars"):
        render(_BadExemplar(), openmetrics=True)
    assert b"trace_id" not in render(_BadExemplar())  # text format drops exemplars


def test_native_histogram_samples_are_skipped() -> None:
    class _Native:
        def collect(self) -> Iterator[Metric]:
            family = Metric("nh", "Native histogram.", "histogram")
            native = NativeHistogram(count_value=3, sum_value=1.5, schema=0, zero_threshold=0.0,
                                     zero_count=1)  # fmt: skip
            family.add_sample("nh", {}, 0.0, native_histogram=native)
            yield family
            yield GaugeMetricFamily("after", "Still rendered.", value=1)

    assert_openmetrics_same_as_upstream(_Native())  # OpenMetrics 1.0 skips them upstream too
    text = render(_Native()).decode()  # upstream's text format raises on them instead
    assert "\nnh " not in text
    assert "after 1.0" in text


@pytest.mark.parametrize(
    ("const", "error"),
    [({"bad-name": "x"}, ValueError), ({"__reserved": "x"}, ValueError), ({"n": 1}, TypeError)],
)
def test_invalid_const_labels_fail_loudly(const: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="constant label"):
        render(CollectorRegistry(), const_labels=const)


TEXT_1 = "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
OM_ESCAPED = CONTENT_TYPE_OPENMETRICS + "; escaping=underscores"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, (False, CONTENT_TYPE_TEXT)),
        ("", (False, CONTENT_TYPE_TEXT)),
        ("*/*", (False, CONTENT_TYPE_TEXT)),
        ("text/plain", (False, CONTENT_TYPE_TEXT)),
        ("text/plain;version=0.0.4", (False, CONTENT_TYPE_TEXT)),
        ("text/plain; version=1.0.0", (False, TEXT_1)),
        ("application/openmetrics-text", (True, CONTENT_TYPE_OPENMETRICS)),
        ("application/openmetrics-text; version=1.0.0", (True, OM_ESCAPED)),
        ("application/openmetrics-text;version=0.0.1", (False, CONTENT_TYPE_TEXT)),
        (PROMETHEUS_2_ACCEPT, (True, OM_ESCAPED)),
        (PROMETHEUS_3_ACCEPT, (True, OM_ESCAPED)),
        # Unlike upstream: OpenMetrics 2.0 is not rendered, malformed versions don't raise.
        ("application/openmetrics-text;version=2.0.0,text/plain", (False, CONTENT_TYPE_TEXT)),
        ("application/openmetrics-text;version=1.x,*/*", (False, CONTENT_TYPE_TEXT)),
    ],
)
def test_choose_format(accept: str | None, expected: tuple[bool, str]) -> None:
    assert choose_format(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "text/plain",
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0",
        "application/openmetrics-text;version=0.0.1",
        PROMETHEUS_2_ACCEPT,
    ],
)
def test_choose_format_agrees_with_choose_encoder(accept: str) -> None:
    _, upstream_type = choose_encoder(accept)
    assert choose_format(accept)[1] == upstream_type
