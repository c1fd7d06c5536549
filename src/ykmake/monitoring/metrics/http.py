"""The RED metrics of the middleware: requests, their duration, the requests in flight.

``path`` is the route template and unknown methods collapse to ``OTHER``: the number of series
is bounded by the app's routes, never by what clients send. A request finds its series with
one dict lookup and bumps it; what it costs depends on the mode, chosen once:

* One process (:class:`LocalHttpFamilies`): a series is a plain list bumped in place on the
  event loop, with the request id as the bucket's exemplar. prometheus_client's
  ``Counter.inc`` + ``Histogram.observe(value, exemplar)`` take four locks, walk the buckets in
  Python and validate the exemplar each time; here that work moves to the scrape, which yields
  the same families (names, help, ``_created`` series, exemplars).
* Several workers (:class:`SharedHttpFamilies`): prometheus_client's own metrics, whose values
  live in the files every worker's scrape sums (it keeps no exemplars there).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString
from starlette.types import Scope

from ykmake.monitoring.metrics.catalogue import HTTP_REQUEST_DURATION, HTTP_REQUESTS

__all__ = ["STANDARD_METHODS", "HttpMetrics", "LocalHttpFamilies", "SharedHttpFamilies"]

STANDARD_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_MAX_EXEMPLAR_RUNES: Final = 128  # OpenMetrics' limit on an exemplar's label names + values
_YIELD_EVERY: Final = 16  # histogram series rendered between two GIL hand-offs
_go_float = cast(Callable[[float], str], floatToGoString)  # unannotated upstream
ExemplarLabels = tuple[str, str | None]  # (request id, trace id)


class HttpSeries(Protocol):
    """One (method, path, status_code) combination, whatever the mode."""

    def observe(self, seconds: float, exemplar: ExemplarLabels | None) -> None: ...


class HttpFamilies(Protocol):
    """Where the series live: this process's memory, or the multiprocess files."""

    exemplars: bool

    def series(self, method: str, path: str, status_code: str) -> HttpSeries: ...


class HttpMetrics:
    """Records finished requests; keeps the ones in flight for ``http_requests_in_progress``,
    which is computed at scrape time (the route is only known once the router matched, so
    counting up front would mean matching twice).

    Args:
        families: where the series live (:class:`LocalHttpFamilies` or
            :class:`SharedHttpFamilies`).
        in_progress: the ``http_requests_in_progress`` gauge.
        route_of: the route template of a request in flight (the middleware's own lookup).
        exemplars: attach the request id (and trace id) to the latency bucket.
        trace_id: returns the current trace id (Sentry), or None.
    """

    def __init__(
        self,
        families: HttpFamilies,
        in_progress: Gauge,
        route_of: Callable[[Scope], str],
        *,
        exemplars: bool = True,
        trace_id: Callable[[], str | None] | None = None,
    ) -> None:
        self._families = families
        self._in_progress = in_progress
        self._route_of = route_of
        self._exemplars = exemplars and families.exemplars
        self._trace_id = trace_id
        self._series: dict[tuple[str, str, int], HttpSeries] = {}
        self._in_flight: dict[int, Scope] = {}
        self._progress_labels: set[tuple[str, str]] = set()

    def started(self, scope: Scope) -> None:
        self._in_flight[id(scope)] = scope

    def finished(
        self, scope: Scope, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        """Count one finished request under its route template."""
        self._in_flight.pop(id(scope), None)
        method = scope["method"]
        series = self._series.get((method, route, status))
        if series is None:
            series = self._new_series(method, route, status)
        series.observe(seconds, self._exemplar(request_id) if self._exemplars else None)

    def _new_series(self, method: str, route: str, status: int) -> HttpSeries:
        labels = (method if method in STANDARD_METHODS else "OTHER", route, str(status))
        series = self._families.series(*labels)
        if method in STANDARD_METHODS:  # never kept under a client-chosen key
            self._series[(method, route, status)] = series
        return series

    def _exemplar(self, request_id: str) -> ExemplarLabels | None:
        trace_id = self._trace_id() if self._trace_id is not None else None
        # A long (valid) X-Request-ID costs the exemplar, never the observation.
        size = 10 + len(request_id) + (8 + len(trace_id) if trace_id else 0)
        return (request_id, trace_id) if size <= _MAX_EXEMPLAR_RUNES else None

    def refresh_in_progress(self) -> None:
        """Set ``http_requests_in_progress`` from the requests in flight right now."""
        counts = Tally(
            (s["method"] if s["method"] in STANDARD_METHODS else "OTHER", self._route_of(s))
            for s in list(self._in_flight.values())
        )
        for labels in self._progress_labels - counts.keys():
            self._in_progress.labels(*labels).set(0)  # had requests in flight, has none now
        for (method, route), n in counts.items():
            self._in_progress.labels(method, route).set(n)
        self._progress_labels |= counts.keys()


# -- several workers: prometheus_client's metrics ------------------------------------------


class _SharedSeries:
    __slots__ = ("_count", "_duration")

    def __init__(self, count: Any, duration: Any) -> None:
        self._count, self._duration = count, duration

    def observe(self, seconds: float, exemplar: ExemplarLabels | None) -> None:
        self._count.inc()
        self._duration.observe(seconds)


class SharedHttpFamilies:
    """The two families as prometheus_client metrics, for multiprocess mode."""

    exemplars = False  # prometheus_client's multiprocess mode drops them

    def __init__(self, registry: CollectorRegistry) -> None:
        spec = HTTP_REQUEST_DURATION
        self._requests = Counter(
            HTTP_REQUESTS.base_name, HTTP_REQUESTS.help, HTTP_REQUESTS.labels, registry=registry
        )
        self._duration = Histogram(
            spec.name, spec.help, spec.labels, buckets=spec.buckets, registry=registry
        )

    def series(self, method: str, path: str, status_code: str) -> HttpSeries:
        labels = (method, path, status_code)
        return _SharedSeries(self._requests.labels(*labels), self._duration.labels(*labels))


# -- one process: lock-free series, turned into samples at scrape time -----------------------

# A series' values: [count, sum, bucket 0, ..., bucket n] (per-bucket counts, not cumulative).
_COUNT, _SUM, _FIRST_BUCKET = 0, 1, 2
# Per bucket, the latest exemplar: (request id, trace id or None, value, unix time).
_RawExemplar = tuple[str, str | None, float, float]


class LocalSeries:
    """One series, bumped in place on the event loop (the only thread that records)."""

    __slots__ = ("bounds", "created", "exemplars", "labels", "values")

    def __init__(self, labels: tuple[str, str, str], bounds: tuple[float, ...]) -> None:
        self.labels = dict(zip(HTTP_REQUESTS.labels, labels, strict=True))
        self.bounds = bounds
        self.values: list[Any] = [0, 0.0, *([0] * len(bounds))]
        self.exemplars: list[_RawExemplar | None] = [None] * len(bounds)
        self.created = time.time()

    def observe(self, seconds: float, exemplar: ExemplarLabels | None) -> None:
        bucket = bisect_left(self.bounds, seconds)  # the first upper bound >= seconds
        values = self.values
        values[_COUNT] += 1
        values[_SUM] += seconds
        values[_FIRST_BUCKET + bucket] += 1
        if exemplar is not None:
            self.exemplars[bucket] = (*exemplar, seconds, time.time())


class LocalHttpFamilies:
    """A registry collector holding every HTTP series of one process.

    Args:
        buckets: upper bounds of the latency buckets, ascending, without ``+Inf``.
    """

    exemplars = True

    def __init__(self, buckets: Sequence[float] = HTTP_REQUEST_DURATION.buckets) -> None:
        self.bounds = (*buckets, float("inf"))
        self._le = tuple(_go_float(b) for b in self.bounds)
        self._series: dict[tuple[str, str, str], LocalSeries] = {}

    def series(self, method: str, path: str, status_code: str) -> LocalSeries:
        """The series for these labels, created on first use."""
        key = (method, path, status_code)
        found = self._series.get(key)
        if found is None:
            found = self._series.setdefault(key, LocalSeries(key, self.bounds))
        return found

    def describe(self) -> Iterable[Metric]:
        return [
            CounterMetricFamily(
                HTTP_REQUESTS.base_name, HTTP_REQUESTS.help, labels=HTTP_REQUESTS.labels
            ),
            HistogramMetricFamily(
                HTTP_REQUEST_DURATION.name,
                HTTP_REQUEST_DURATION.help,
                labels=HTTP_REQUEST_DURATION.labels,
            ),
        ]

    def collect(self) -> Iterable[Metric]:
        # Samples are generated while the scrape renders them, not built up front: thousands
        # of samples alive at once outlive two young GC generations, and every few scrapes
        # the promoted garbage set off a full collection that stopped every thread (the event
        # loop included). One at a time, each sample is freed before any GC runs.
        series = list(self._series.values())
        created = created_series_enabled()
        requests = Metric(HTTP_REQUESTS.base_name, HTTP_REQUESTS.help, "counter")
        requests.samples = cast(list[Sample], _request_samples(series, created))
        duration = Metric(HTTP_REQUEST_DURATION.name, HTTP_REQUEST_DURATION.help, "histogram")
        duration.samples = cast(list[Sample], self._duration_samples(series, created))
        return [requests, duration]

    def _duration_samples(self, all_series: list[LocalSeries], created: bool) -> Iterator[Sample]:
        name = HTTP_REQUEST_DURATION.name
        for n, series in enumerate(all_series, 1):
            if n % _YIELD_EVERY == 0:
                # Scrapes render in a worker thread while the event loop serves requests:
                # let the loop have the GIL now rather than after the 5 ms switch interval.
                time.sleep(0)
            labels = series.labels
            values = list(series.values)  # one atomic copy: its count, sum and buckets agree
            cumulative = 0
            for i, le in enumerate(self._le):
                cumulative += values[_FIRST_BUCKET + i]
                exemplar = _exemplar(series.exemplars[i])
                yield Sample(f"{name}_bucket", {**labels, "le": le}, cumulative, None, exemplar)
            yield Sample(f"{name}_count", labels, cumulative)
            yield Sample(f"{name}_sum", labels, values[_SUM])
            if created:
                yield Sample(f"{name}_created", labels, series.created)


def _request_samples(all_series: list[LocalSeries], created: bool) -> Iterator[Sample]:
    for series in all_series:
        yield Sample(HTTP_REQUESTS.name, series.labels, series.values[_COUNT])
        if created:
            yield Sample(f"{HTTP_REQUESTS.base_name}_created", series.labels, series.created)


def _exemplar(raw: _RawExemplar | None) -> Exemplar | None:
    if raw is None:
        return None
    request_id, trace_id, value, timestamp = raw
    labels = {"request_id": request_id}
    if trace_id:
        labels["trace_id"] = trace_id
    return Exemplar(labels, value, timestamp)


def created_series_enabled() -> bool:
    """Whether prometheus_client writes ``_created`` series (``disable_created_metrics()``,
    ``PROMETHEUS_DISABLE_CREATED_SERIES``), asked through its public API: a counter that
    belongs to no registry says so in its samples."""
    probe = Counter("created_probe", "", registry=None)
    (family,) = probe.collect()
    return any(sample.name.endswith("_created") for sample in family.samples)
