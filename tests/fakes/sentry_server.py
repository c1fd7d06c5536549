"""A fake Sentry ingest on 127.0.0.1 that records what sentry-sdk sends.

sentry-sdk 2.x posts envelopes to ``/api/<project>/envelope/``, gzip-compressed at level 9
(brotli when the ``brotli`` module is importable). Both are decoded here, as is the legacy
``/api/<project>/store/`` JSON event. Point the SDK at :attr:`FakeSentry.dsn`.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from tests.fakes._base import FakeHTTPServer, RecordedRequest, Reply

__all__ = ["Envelope", "EnvelopeItem", "FakeSentry", "parse_envelope"]

_ROUTE = re.compile(r"^/api/(?P<project>\d+)/(?P<endpoint>envelope|store)/$")


@dataclass(frozen=True)
class EnvelopeItem:
    """One item: its header (``type``, ``length``, ...) and payload (JSON-decoded if it can)."""

    headers: dict[str, Any]
    payload: Any

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: header (``event_id``, ``dsn``, ``sdk``, ...) and items."""

    headers: dict[str, Any]
    items: list[EnvelopeItem]

    def of_type(self, item_type: str) -> list[Any]:
        return [i.payload for i in self.items if i.type == item_type]


def parse_envelope(data: bytes) -> Envelope:
    """Parse Sentry's envelope format: a JSON header line, then (header line, payload) pairs.

    A payload is ``length`` bytes when the item header says so, else runs to the next newline.
    """
    header_line, _, rest = data.partition(b"\n")
    headers = json.loads(header_line) if header_line.strip() else {}
    items: list[EnvelopeItem] = []
    pos = 0
    while pos < len(rest):
        end = rest.find(b"\n", pos)
        end = len(rest) if end < 0 else end
        line = rest[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        item_headers: dict[str, Any] = json.loads(line)
        length = item_headers.get("length")
        if length is None:
            end = rest.find(b"\n", pos)
            end = len(rest) if end < 0 else end
            payload, pos = rest[pos:end], end + 1
        else:
            payload, pos = rest[pos : pos + int(length)], pos + int(length) + 1
        items.append(EnvelopeItem(item_headers, _decode_payload(payload)))
    return Envelope(headers, items)


def _decode_payload(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:  # attachments and other binary items stay bytes
        return payload


class FakeSentry(FakeHTTPServer):
    """Fake Sentry: records envelopes, answers like ingest, fails on demand."""

    project_id = 1

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/{self.project_id}"

    @property
    def envelopes(self) -> list[Envelope]:
        return _envelopes(self.requests)

    def items(self, item_type: str) -> list[Any]:
        """Payloads of every received item of ``item_type`` ("event", "transaction", ...)."""
        return [p for e in self.envelopes for p in e.of_type(item_type)]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Error events (items of type "event")."""
        return self.items("event")

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return self.items("transaction")

    def wait_for_events(
        self, count: int, timeout: float = 5.0, *, item_type: str = "event"
    ) -> list[Any]:
        """Wait until ``count`` items of ``item_type`` arrived; return their payloads.

        Raises:
            TimeoutError: fewer arrived before the deadline.
        """

        def collect(requests: list[RecordedRequest]) -> list[Any]:
            return [p for e in _envelopes(requests) for p in e.of_type(item_type)]

        return self._wait(collect, count, timeout, f"{item_type!r} items")

    # request handling ------------------------------------------------------------------

    def _decode(self, headers: dict[str, str], raw: bytes) -> bytes:
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
        if encoding == "br":
            import brotli  # type: ignore[import-not-found]  # optional: only if the SDK has it

            data: bytes = brotli.decompress(raw)
            return data
        return raw

    def _parse(self, path: str, headers: dict[str, str], raw: bytes) -> Any:
        match = _ROUTE.match(path.split("?", 1)[0])
        if match is None:
            return None
        if match["endpoint"] == "store":
            event = json.loads(raw)
            return Envelope(
                {"event_id": event.get("event_id")}, [EnvelopeItem({"type": "event"}, event)]
            )
        return parse_envelope(raw)

    def _answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        if method != "POST" or not isinstance(body, Envelope):
            return Reply(404, b'{"detail":"not found"}')
        event_id = body.headers.get("event_id") or uuid.uuid4().hex
        return Reply(200, json.dumps({"id": event_id}).encode())

    def _failure_reply(self, path: str, status: int, error: str | None) -> Reply:
        return Reply(
            status, json.dumps({"detail": error or f"failed on purpose ({status})"}).encode()
        )


def _envelopes(requests: list[RecordedRequest]) -> list[Envelope]:
    # Only what ingest accepted counts as received; failed-on-purpose posts are in requests.
    return [r.body for r in requests if r.status == 200 and isinstance(r.body, Envelope)]
