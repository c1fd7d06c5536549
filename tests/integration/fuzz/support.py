"""The fuzzed service: the app in one environment with every part on, its schema, credentials.

Development runs on SQLite, production on a fresh PostgreSQL database (its integer and text
columns are the narrower ones). Every token is set, so every toolkit endpoint exists; each
example draws whether it sends the right token, a wrong one or none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.support.services import fresh_postgres_database
from ykmake.app.main import create_app
from ykmake.app.users import create_user
from ykmake.monitoring.alerts.admin_api import ADMIN_ALERTS_PATH
from ykmake.monitoring.alerts.alertmanager import WEBHOOK_PATH
from ykmake.settings import load_settings

ENVIRONMENTS: Final = ("development", "production")
ADMIN_TOKEN: Final = "fuzz-admin-token"
WEBHOOK_TOKEN: Final = "fuzz-webhook-token"
METRICS_TOKEN: Final = "fuzz-metrics-token"
# Every operation of the document but the debug routes (development only), which raise and
# sleep on purpose: a 500 and up to 10 s are what they are for.
OPERATIONS: Final = (
    "GET /health",
    "GET /ready",
    "GET /api/products",
    "POST /api/products",
    "GET /api/products/{product_id}",
    "GET /api/me",
    "GET /metrics",
    "POST /api/alertmanager/webhook",
    "GET /api/admin/alerts",
    "GET /api/admin/alerts/{alert_id}",
    "POST /api/admin/alerts/{alert_id}/ack",
    "POST /api/admin/alerts/{alert_id}/resolve",
)
EXCLUDED_TAGS: Final = frozenset({"debug"})
OPEN: Final = frozenset(
    {"GET /health", "GET /ready", "GET /api/products", "GET /api/products/{product_id}"}
)

# Most examples carry the right token, so they get past the guard and reach the handler.
AUTH: Final = st.sampled_from(("right", "right", "right", "wrong", "none"))
# Text a column cannot hold, which schemathesis never (a lone surrogate, which JSON carries
# as an escape and UTF-8 cannot) or seldom (NUL, which PostgreSQL refuses) generates: two
# valid JSON bodies in five get one of them in one of their strings.
HOSTILE: Final = st.tuples(st.sampled_from(("", "", "", "\udcff", "\x00")), st.integers(0, 99))


def _strings(value: Any) -> int:
    if isinstance(value, str):
        return 1
    if isinstance(value, dict):
        return sum(1 + _strings(item) for item in value.values())
    if isinstance(value, list):
        return sum(_strings(item) for item in value)
    return 0


def plant(value: Any, hostile: str, index: int) -> Any:
    """``value`` with ``hostile`` appended to its ``index``-th string, keys counted (modulo)."""
    count = _strings(value)
    return _plant(value, hostile, index % count)[0] if count else value


def _plant(value: Any, hostile: str, index: int) -> tuple[Any, int]:
    """(the new value, how many strings are left to skip)."""
    if isinstance(value, str):
        return (value + hostile if index == 0 else value), index - 1
    if isinstance(value, list):
        items = []
        for item in value:
            new, index = _plant(item, hostile, index)
            items.append(new)
        return items, index
    if isinstance(value, dict):
        pairs = {}
        for key, item in value.items():
            new_key = key + hostile if index == 0 else key
            new, index = _plant(item, hostile, index - 1)
            pairs[new_key] = new
        return pairs, index
    return value, index


def examples() -> int:
    """Examples per operation and generation mode: YKMAKE_FUZZ_EXAMPLES, 25 by default."""
    return int(os.environ.get("YKMAKE_FUZZ_EXAMPLES", "25"))


def fuzz_settings(max_examples: int, **overrides: Any) -> settings:
    """A fixed seed (derandomize), no example database in the work tree, no deadline (a
    shared CI machine is slow at times; a slow answer is not what this looks for)."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        **overrides,
    )


@dataclass(frozen=True)
class Service:
    """One fuzzed app and the tokens that open its doors."""

    environment: str
    app: Any
    schema: OpenApiSchema
    user_token: str
    client: asgi.ASGIClient

    def right_token(self, label: str) -> str | None:
        """The token ``"METHOD /path"`` asks for; None for an open operation."""
        if label in OPEN:
            return None
        path = label.split(" ", 1)[1]
        if path.startswith(ADMIN_ALERTS_PATH):
            return ADMIN_TOKEN
        if path == WEBHOOK_PATH:
            return WEBHOOK_TOKEN
        if path == self.app.state.settings.metrics_path:
            return METRICS_TOKEN
        return self.user_token  # POST /api/products, GET /api/me

    def headers(self, label: str, auth: str) -> dict[str, str]:
        """The Authorization header an example sends: the right token, a wrong one, none."""
        token = self.right_token(label)
        if auth == "none" or token is None:
            return {}
        return {"Authorization": f"Bearer {token if auth == 'right' else 'wrong-' + token}"}

    def reset(self) -> None:
        """No alerts and no products, ids from 1 again: each linked scenario starts from the
        same state, so the same choices meet the same answers (Hypothesis requires it)."""
        tables = (
            "alert_group_members",
            "alert_group_notifications",
            "alert_groups",
            "alert_notifications",
            "alert_channel_pauses",
            "alert_journal_entries",
            "alerts",
            "products",
        )
        with self.app.state.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
            else:  # SQLite's rowid ids restart after the largest left: none
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names

    def send_json(self, case: Case[Any], body: Any, headers: dict[str, str]) -> Any:
        """``case`` with ``body`` in its place, encoded here: schemathesis would validate a
        body holding a lone surrogate before sending it, and fail doing so."""
        return self.client.request(
            case.method,
            case.formatted_path,
            params=case.query,
            data=json.dumps(body).encode(),  # ensure_ascii: "\udcff" goes out as its escape
            headers={**headers, "Content-Type": "application/json"},
        )


def _database_url(environment: str, tmp: Path, stack: ExitStack) -> str:
    if environment == "production":
        return stack.enter_context(fresh_postgres_database())
    return f"sqlite:///{tmp / 'fuzz.db'}"


@contextmanager
def fuzzed_service(environment: str, tmp: Path) -> Iterator[Service]:
    """The app, started in-process the way schemathesis calls it; stopped afterwards."""
    with ExitStack() as stack:
        app: Any = create_app(
            load_settings(
                _env_file=None,
                ykmake_env=environment,
                database_url=_database_url(environment, tmp, stack),
                log_dir=tmp / "logs",
                alert_spool_dir=tmp / "spool",
                admin_token=ADMIN_TOKEN,
                alertmanager_webhook_token=WEBHOOK_TOKEN,
                metrics_token=METRICS_TOKEN,
                # A loaded CI machine may keep a request waiting for the database for seconds;
                # its 503 would be the timeouts' doing, not the input's, and would make the same
                # choices meet another answer (the linked scenarios need the same ones).
                database_pool_timeout_seconds=60,
                database_request_timeout_seconds=60,
                database_statement_timeout_seconds=60,
            )
        )
        stack.callback(app.state.engine.dispose)
        stack.callback(app.state.monitoring.logging.close)
        with Session(app.state.engine) as session:
            _, token = create_user(session, "fuzzer")
        # Loading the document through /openapi.json starts the app's lifespan, which
        # schemathesis keeps for the process: stopped here, before logging is closed.
        stack.callback(asgi.shutdown_lifespans)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        # Each example chooses its Authorization header itself (right, wrong or none).
        schema.config.generation.update(with_security_parameters=False)
        client = stack.enter_context(asgi.get_client(app))  # the lifespan is already on
        yield Service(environment, app, schema, token, client)
