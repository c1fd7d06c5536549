"""``ykmake load`` without a server: the loopback rule, the bounds, the mix and the run loop
(against ``httpx.MockTransport``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from rich.console import Console

from ykmake.cli.load import summary_tables
from ykmake.cli.load_engine import (
    MAX_CONCURRENCY,
    MAX_REQUESTS,
    LoadError,
    LoadPlan,
    LoadStats,
    loopback_base_url,
    planned_request,
    run_load,
)
from ykmake.errors import YkmakeError


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.1.2.3", "http://127.1.2.3"),
        ("https://localhost:8443", "https://localhost:8443"),
        ("http://LOCALHOST:8000", "http://LOCALHOST:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_loopback_origins_are_accepted(url: str, base: str) -> None:
    assert loopback_base_url(url) == base


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.1:8000", "'10.0.0.1' is not loopback"),
        ("http://192.168.1.10", "is not loopback"),
        ("http://example.com", "'example.com' is not loopback"),
        ("http://localhost.example.com", "is not loopback"),
        ("http://127.0.0.1.nip.io", "is not loopback"),
        ("http://[::2]:8000", "is not loopback"),
        ("http://0.0.0.0:8000", "is not loopback"),
        ("ftp://127.0.0.1", "not an http:// or https:// URL"),
        ("127.0.0.1:8000", "not an http:// or https:// URL"),
        ("http://user:pw@127.0.0.1", "bare origin"),
        ("http://127.0.0.1/api", "bare origin"),
        ("http://127.0.0.1/?x=1", "bare origin"),
        ("http://127.0.0.1:99999", "invalid port"),
    ],
)
def test_anything_else_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(LoadError, match=says.replace("?", r"\?")) as caught:
        loopback_base_url(url)
    assert isinstance(caught.value, YkmakeError)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"requests": 0}, "--requests 0"),
        ({"requests": MAX_REQUESTS + 1}, f"--requests {MAX_REQUESTS + 1}"),
        ({"concurrency": 0}, "--concurrency 0"),
        ({"concurrency": MAX_CONCURRENCY + 1}, "--concurrency"),
        ({"duration": 0}, "--duration 0"),
        ({"duration": 3601}, "--duration 3601"),
        ({"rate": 0}, "--rate 0"),
        ({"error_rate": -0.1}, "--error-rate -0.1"),
        ({"slow_rate": 1.5}, "--slow-rate 1.5"),
        ({"error_rate": 0.6, "slow_rate": 0.6}, r"--error-rate \+ --slow-rate 1.2"),
        ({"slow_ms": 10_001}, "--slow-ms 10001"),
        ({"url": "http://10.1.1.1"}, "not loopback"),
    ],
)
def test_a_plan_outside_its_bounds_is_refused(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(LoadError, match=says):
        LoadPlan(**fields)


def test_the_token_stays_out_of_the_plans_repr() -> None:
    assert "s3cret" not in repr(LoadPlan(token="s3cret"))


def _kinds(plan: LoadPlan, count: int) -> list[str]:
    return [planned_request(plan, i).kind for i in range(count)]


def test_errors_and_slow_requests_are_mixed_in_at_their_share_and_spread_out() -> None:
    plan = LoadPlan(error_rate=0.1, slow_rate=0.2)
    kinds = _kinds(plan, 1000)
    counts = Counter(kinds)
    assert abs(counts["error"] - 100) <= 2
    assert abs(counts["slow"] - 200) <= 2
    # Evenly spread: every stretch of 50 requests has its share, give or take two.
    for start in range(0, 1000, 50):
        assert 3 <= kinds[start : start + 50].count("error") <= 7


@pytest.mark.parametrize(
    ("error_rate", "slow_rate", "kind"), [(1.0, 0.0, "error"), (0.0, 1.0, "slow")]
)
def test_a_share_of_one_sends_only_that_kind(
    error_rate: float, slow_rate: float, kind: str
) -> None:
    plan = LoadPlan(error_rate=error_rate, slow_rate=slow_rate)
    assert set(_kinds(plan, 200)) == {kind}


def test_the_paths_of_each_kind() -> None:
    assert planned_request(LoadPlan(error_rate=1.0), 3).path == "/api/debug/error"
    slow = planned_request(LoadPlan(slow_rate=1.0, slow_ms=250), 3)
    assert (slow.method, slow.path) == ("GET", "/api/debug/slow?ms=250")


def test_authenticated_routes_only_with_a_token() -> None:
    anonymous = {(r.method, r.path.split("/")[2]) for r in map(_request(LoadPlan()), range(40))}
    assert anonymous == {("GET", "products")}
    with_token = [_request(LoadPlan(token="t"))(i) for i in range(40)]
    assert {(r.method, r.path) for r in with_token} >= {
        ("GET", "/api/me"),
        ("POST", "/api/products"),
    }
    post = next(r for r in with_token if r.method == "POST")
    assert post.json is not None
    assert set(post.json) == {"name", "price_cents"}


def _request(plan: LoadPlan) -> Any:
    return lambda index: planned_request(plan, index)


def test_percentiles_are_nearest_rank() -> None:
    stats = LoadStats()
    assert stats.percentile(50) is None
    for millis in range(1, 101):
        stats.record(200, millis / 1000)
    stats.record("ConnectError", 5.0)  # no answer, no latency
    assert stats.percentile(50) == 0.05
    assert stats.percentile(99) == 0.099
    assert stats.percentile(100) == 0.1
    assert stats.sent == 101


def _transport(
    seen: list[httpx.Request], *, delay: float = 0.0, fail: bool = False
) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if fail:
            raise httpx.ConnectError("refused", request=request)
        if delay:
            await asyncio.sleep(delay)
        status = 500 if request.url.path == "/api/debug/error" else 200
        return httpx.Response(status, json={})

    return httpx.MockTransport(handler)


def test_a_run_sends_exactly_the_count_with_the_token() -> None:
    seen: list[httpx.Request] = []
    plan = LoadPlan(requests=50, concurrency=5, error_rate=0.2, token="tok")
    results: list[int | str] = []
    stats = asyncio.run(run_load(plan, transport=_transport(seen), on_result=results.append))
    assert stats.sent == len(seen) == len(results) == 50
    assert set(stats.outcomes) == {200, 500}
    assert 9 <= stats.outcomes[500] == stats.server_errors <= 11  # a fifth, give or take one
    assert {r.headers["authorization"] for r in seen} == {"Bearer tok"}
    assert len(stats.latencies) == 50
    assert stats.per_second > 0


def test_the_duration_ends_a_run_before_its_count() -> None:
    seen: list[httpx.Request] = []
    plan = LoadPlan(requests=MAX_REQUESTS, concurrency=2, duration=0.3)
    began = time.perf_counter()
    stats = asyncio.run(run_load(plan, transport=_transport(seen, delay=0.01)))
    assert 0.3 <= time.perf_counter() - began < 2.0
    assert 0 < stats.sent < MAX_REQUESTS
    assert 0.3 <= stats.elapsed < 2.0


def test_the_rate_spaces_requests_out() -> None:
    plan = LoadPlan(requests=11, concurrency=4, rate=50)  # 10 gaps of 20 ms
    stats = asyncio.run(run_load(plan, transport=_transport([])))
    assert stats.sent == 11
    assert stats.elapsed >= 0.2


def test_a_stop_event_ends_a_run() -> None:
    stop = threading.Event()
    plan = LoadPlan(requests=MAX_REQUESTS, concurrency=2, duration=30)

    def stop_after_ten(outcome: int | str) -> None:
        if not stop.is_set() and stats.sent >= 10:
            stop.set()

    stats = LoadStats()
    asyncio.run(
        run_load(plan, stats=stats, on_result=stop_after_ten, stop=stop, transport=_transport([]))
    )
    assert 10 <= stats.sent <= 12  # the requests already in flight finish


def test_transport_errors_are_counted_by_name_and_the_run_goes_on() -> None:
    plan = LoadPlan(requests=6, concurrency=2)
    stats = asyncio.run(run_load(plan, transport=_transport([], fail=True)))
    assert stats.outcomes == Counter({"ConnectError": 6})
    assert stats.latencies == []
    assert stats.percentile(95) is None


def test_the_summary_lists_statuses_then_errors_and_the_percentiles() -> None:
    stats = LoadStats(elapsed=2.0)
    answers: list[tuple[int | str, float]] = [
        (500, 0.2), (200, 0.01), (200, 0.03), ("ReadTimeout", 10.0)
    ]  # fmt: skip
    for outcome, seconds in answers:
        stats.record(outcome, seconds)
    console = Console(width=100, record=True)
    for table in summary_tables(stats):
        console.print(table)
    text = console.export_text()
    assert text.index("200") < text.index("500") < text.index("ReadTimeout")
    assert "50.0%" in text  # two of four were 200
    assert "30.0 ms" in text  # p50 of 10, 30 and 200 ms
    assert "200.0 ms" in text
    assert "2.0" in text  # 4 requests in 2 s


def test_a_low_rate_still_stops_at_the_duration() -> None:
    plan = LoadPlan(requests=10, concurrency=2, rate=0.5, duration=0.5)  # the 2nd is due at 2 s
    began = time.perf_counter()
    stats = asyncio.run(run_load(plan, transport=_transport([])))
    assert time.perf_counter() - began < 1.5
    assert stats.sent == 1
