"""Two instances sharing Redis report the same active_users: the union, not the sum."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.orm import Session

from tests.integration.metrics.scrape import scrape, value
from tests.support.server import free_port, serve, wait_until
from tests.support.services import redis_url
from ykmake.app.users import create_user
from ykmake.monitoring.metrics.active_users import ActiveUsers
from ykmake.monitoring.metrics.families import MonitoringMetrics

pytestmark = [pytest.mark.integration, pytest.mark.redis]


@pytest.fixture
def shared_key() -> Iterator[tuple[str, str]]:
    """A Redis URL and a key no other test run uses; the key is deleted afterwards."""
    url = redis_url()
    key = f"ykmake:test:active_users:{secrets.token_hex(6)}"
    yield url, key
    with Redis.from_url(url) as client:
        client.delete(key)


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


def test_two_trackers_agree_on_the_union(shared_key: tuple[str, str]) -> None:
    url, key = shared_key
    clock = Clock()

    async def go() -> tuple[int, int, int]:
        client = aioredis.from_url(url)
        try:
            a, b = (
                ActiveUsers(
                    MonitoringMetrics(process_collectors=False).active_users,
                    redis=client,
                    key=key,
                    window_seconds=300,
                    clock=clock,
                )
                for _ in range(2)
            )
            for uid in (1, 2):
                a.seen(uid)
            for uid in (2, 3):
                b.seen(uid)
            await a.sync()
            first = await b.sync(), await a.sync()
            clock.now += 301  # nobody seen since: the window empties everywhere
            return *first, await b.sync()
        finally:
            await client.aclose()

    assert asyncio.run(go()) == (3, 3, 0)


def test_sightings_survive_a_redis_outage(shared_key: tuple[str, str]) -> None:
    url, key = shared_key

    async def go() -> int:
        down = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")
        up = aioredis.from_url(url)
        try:
            metrics = MonitoringMetrics(process_collectors=False)
            users = ActiveUsers(metrics.active_users, redis=down, key=key)
            users.seen(7)
            with pytest.raises(RedisConnectionError):
                await users.sync()
            users.redis = up  # Redis is back
            return await users.sync()
        finally:
            await down.aclose()
            await up.aclose()

    assert asyncio.run(go()) == 1


def track_with_key(app: Any, key: str) -> None:
    """Point the app's tracker at this test's own key (and sync quickly)."""
    app.state.active_users = ActiveUsers(
        app.state.monitoring.metrics.active_users,
        redis=app.state.redis,
        key=key,
        window_seconds=app.state.settings.active_users_window_seconds,
        flush_interval=0.05,
    )


def test_two_instances_report_the_distinct_union(
    app_factory: Callable[..., Any], shared_key: tuple[str, str]
) -> None:
    url, key = shared_key
    first, second = app_factory(redis_url=url), app_factory(redis_url=url)  # one database
    with Session(first.state.engine) as session:
        tokens = [create_user(session, f"maker{i}")[1] for i in range(3)]
    for app in (first, second):
        track_with_key(app, key)
    with serve(first) as base_a, serve(second) as base_b:
        for base, users in ((base_a, tokens[:2]), (base_b, tokens[1:])):
            for token in users:
                auth = {"Authorization": f"Bearer {token}"}
                assert httpx.get(f"{base}/api/me", headers=auth).status_code == 200
        wait_until(lambda: [value(scrape(b), "active_users") for b in (base_a, base_b)] == [3, 3])
