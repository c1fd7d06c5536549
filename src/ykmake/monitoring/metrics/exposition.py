"""Fast Prometheus exposition (text 0.0.4 and OpenMetrics 1.0.0) with constant labels.

`render` produces what prometheus_client's ``generate_latest`` produces (sample for sample,
as its parsers read it back), plus constant labels on every sample. It reads the registry
through its public ``collect()``, as upstream does; the speed (figures in
docs/benchmarks.md) comes from series prefixes (``name{labels} ``), escaped and joined once
and cached across scrapes (:mod:`._prefix_cache`): a sample then costs a dict lookup and a
float ``repr``.

Differences from ``generate_latest``, all deliberate:

* Values are written with ``repr`` (``1234567.0``, not ``1.234567e+06``); equal as floats.
* Native-histogram samples are skipped (OpenMetrics 1.0 skips them upstream too; upstream's
  text format raises on them).
* Only the ``underscores`` name-escaping scheme and OpenMetrics 1.0.0 are produced; upstream
  quirks of that scheme are kept (OpenMetrics sample names turn ``:`` into ``_``).
* ``_created`` series follow prometheus_client (``PROMETHEUS_DISABLE_CREATED_SERIES``,
  ``disable_created_metrics()``) because the samples come from its own code.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_metric_name
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar, Sample

from ykmake.monitoring.metrics._prefix_cache import PrefixCache, escape_label_value, get_cache

__all__ = [
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_TEXT",
    "choose_format",
    "render",
]

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_CONTENT_TYPE_TEXT_1 = "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
_CONTENT_TYPE_OPENMETRICS_ESCAPED = CONTENT_TYPE_OPENMETRICS + "; escaping=underscores"

_INF = float("inf")
# Text format moves these OpenMetrics-only series into gauge families after their metric.
_TEXT_LATE_SUFFIXES = ("_created", "_gsum", "_gcount")
_TEXT_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}


def choose_format(accept_header: str | None) -> tuple[bool, str]:
    """Pick the format for an Accept header, as prometheus_client's ``choose_encoder`` does.

    The first acceptable entry wins (q-values are ignored, like upstream). OpenMetrics is
    chosen for ``application/openmetrics-text`` without a version or with a 1.x version;
    unlike upstream, 2.x entries are skipped (only OpenMetrics 1.0.0 is rendered) and a
    malformed version skips its entry instead of raising.

    Returns:
        ``(openmetrics, content_type)``.
    """
    for accepted in (accept_header or "").split(","):
        toks = accepted.split(";")
        media_type = toks[0].strip()
        if media_type not in ("application/openmetrics-text", "text/plain"):
            continue
        version = _version(toks)
        if media_type == "application/openmetrics-text":
            if version == ():
                return True, CONTENT_TYPE_OPENMETRICS
            if version is not None and (1, 0, 0) <= version < (2,):
                return True, _CONTENT_TYPE_OPENMETRICS_ESCAPED
        elif version is not None and version >= (1, 0, 0):
            return False, _CONTENT_TYPE_TEXT_1
    return False, CONTENT_TYPE_TEXT


def _version(toks: list[str]) -> tuple[int, ...] | None:
    """The ``version`` parameter as numbers; ``()`` when absent, None when malformed."""
    for tok in toks[1:]:
        key, sep, value = tok.strip().partition("=")
        if sep and key == "version":
            try:
                return tuple(int(part) for part in value.split("."))
            except ValueError:
                return None
    return ()


def render(
    registry: Collector,
    *,
    const_labels: Mapping[str, str] | None = None,
    openmetrics: bool = False,
) -> bytes:
    """Render every metric of `registry` (or any object with ``collect()``) for a scrape.

    Args:
        registry: a `CollectorRegistry` or a collector such as ``MultiProcessCollector``.
        const_labels: labels added to every sample; a sample's own label of the same name
            wins. Exemplar labels are left alone.
        openmetrics: OpenMetrics 1.0.0 (exemplars, ``# EOF``) instead of text 0.0.4.

    Raises:
        ValueError: a constant label name is invalid, or an exemplar sits on a sample that
            may not carry one (OpenMetrics only, as upstream).
    """
    cache = get_cache(openmetrics=openmetrics, const_labels=const_labels or {})
    out: list[str] = []
    for family in registry.collect():
        _render_metric(out, family, cache)
    if openmetrics:
        out.append("# EOF\n")
    return "".join(out).encode("utf-8")


def _header(out: list[str], name: str, doc: str, mtype: str, unit: str, om: bool) -> None:
    escaped = escape_metric_name(name)
    doc = doc.replace("\\", r"\\").replace("\n", r"\n")
    if om:
        doc = doc.replace('"', r"\"")
    out.append(f"# HELP {escaped} {doc}\n# TYPE {escaped} {mtype}\n")
    if om and unit:
        out.append(f"# UNIT {escaped} {unit}\n")


def _text_type(mtype: str) -> str:
    return "untyped" if mtype == "unknown" else _TEXT_TYPES.get(mtype, mtype)


def _text_name(metric: Metric) -> str:
    suffix = {"counter": "_total", "info": "_info"}.get(metric.type, "")
    return metric.name + suffix


def _open_family(out: list[str], metric: Metric, om: bool) -> dict[str, list[str]]:
    """Write HELP/TYPE/UNIT; return the per-suffix lists for text-format late series."""
    if om:
        _header(out, metric.name, metric.documentation, metric.type, metric.unit, om)
        return {}
    _header(out, _text_name(metric), metric.documentation, _text_type(metric.type), "", om)
    return {suffix: [] for suffix in _TEXT_LATE_SUFFIXES}


def _close_family(out: list[str], metric: Metric, late: dict[str, list[str]]) -> None:
    # Upstream emits each late group that has samples, sorted by suffix, as a gauge family.
    for suffix in sorted(late):
        if late[suffix]:
            _header(out, metric.name + suffix, metric.documentation, "gauge", "", om=False)
            out.extend(late[suffix])


def _render_metric(out: list[str], metric: Metric, cache: PrefixCache) -> None:
    """Render a family that came out of ``collect()``."""
    om = cache.openmetrics
    late = _open_family(out, metric, om)
    late_names = {metric.name + s: lines for s, lines in late.items()}
    table = cache.table(metric.name)
    get, append, inf = table.get, out.append, _INF
    for sample in metric.samples:
        name, labels, value, timestamp, exemplar, native = sample
        if native is not None:
            continue
        key = (name, *labels, *labels.values())
        prefix = get(key)
        if prefix is None:
            prefix = cache.miss(table, key, name, labels)
        if type(value) is float and -inf < value < inf:
            line = f"{prefix}{value!r}\n"
        else:
            line = f"{prefix}{_go_float(value)}\n"
        if timestamp is not None or (om and exemplar is not None):
            line = line[:-1] + _tail(metric, sample, om) + "\n"
        target = late_names.get(name) if late_names else None
        if target is None:
            append(line)
        else:
            target.append(line)
    _close_family(out, metric, late)


def _go_float(value: object) -> str:
    """Slow path of float formatting: non-floats and non-finite values, as upstream."""
    number = float(value)  # type: ignore[arg-type]  # upstream calls float() on any value
    if number != number:
        return "NaN"
    if number in (_INF, -_INF):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


def _tail(metric: Metric, sample: Sample, om: bool) -> str:
    """Timestamp and (OpenMetrics) exemplar of a sample; rare, so kept off the hot loop."""
    tail = ""
    if sample.timestamp is not None:
        # OpenMetrics writes seconds as given; text format wants integer milliseconds.
        ts = sample.timestamp
        tail = f" {ts}" if om else f" {int(float(ts) * 1000):d}"
    if om and sample.exemplar is not None:
        tail += _exemplar(metric, sample, sample.exemplar)
    return tail


def _exemplar(metric: Metric, sample: Sample, exemplar: Exemplar) -> str:
    mtype, name = metric.type, sample.name
    if not (
        (mtype == "counter" and name.endswith("_total"))
        or (mtype == "gaugehistogram" and name.endswith("_bucket"))
        or (mtype == "histogram" and (name.endswith("_bucket") or name == metric.name))
    ):
        msg = f"Metric {metric.name} has exemplars, but is not a histogram bucket or counter"
        raise ValueError(msg)
    labels = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(exemplar.labels.items()))
    text = f" # {{{labels}}} {_go_float(exemplar.value)}"
    if exemplar.timestamp is not None:
        text += f" {exemplar.timestamp}"
    return text
