"""A stand-in for the two app endpoints the stack calls: /metrics and the Alertmanager webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EXPOSITION = (
    "# TYPE http_requests_total counter\n"
    'http_requests_total{app="ykmake",method="GET",path="/api/products",status_code="200"} 7\n'
)


@dataclass
class FakeApp:
    """What the fake app saw: the scrapes' Authorization headers and the webhook posts."""

    port: int
    metrics_token: str
    scrape_auth: list[str | None] = field(default_factory=list)
    webhooks: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)


def _handler(app: FakeApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            app.scrape_auth.append(auth)
            if self.path != "/metrics" or auth != f"Bearer {app.metrics_token}":
                self.send_error(401)
                return
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length))
            app.webhooks.append((self.headers.get("Authorization"), payload))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


@contextmanager
def fake_app(metrics_token: str) -> Iterator[FakeApp]:
    """Serve the fake on a free loopback port in a thread; shut it down afterwards."""
    app = FakeApp(port=0, metrics_token=metrics_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(app))
    app.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-app", daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
