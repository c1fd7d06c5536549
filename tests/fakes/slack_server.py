"""A fake Slack on 127.0.0.1: enough of the Web API and incoming webhooks for slack_sdk.

Answers ``POST /api/chat.postMessage`` (JSON or form body, Bearer token) and
``POST /api/auth.test`` like Slack, and ``POST /services/T/B/X`` like an incoming webhook.
Every request is recorded; failures are switched on with :meth:`fail_with`, :meth:`hang`,
:meth:`go_down` and :meth:`reject_auth`.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes._base import FakeHTTPServer, RecordedRequest, Reply

__all__ = ["FakeSlack", "RecordedRequest"]

_JSON_FORM_FIELDS = frozenset({"attachments", "blocks", "metadata"})

_API_ERRORS = {429: "ratelimited", 400: "invalid_arguments", 403: "forbidden"}
_WEBHOOK_ERRORS = {
    429: "rate_limited",
    400: "invalid_payload",
    403: "invalid_token",
    404: "no_service",
    410: "channel_is_archived",
}


class FakeSlack(FakeHTTPServer):
    """Fake Slack Web API + incoming webhook.

    Args:
        token: when set, only this Bearer token is accepted (others get ``invalid_auth``);
            otherwise any non-empty token is.
    """

    webhook_path = "/services/T/B/X"

    def __init__(self, *, token: str | None = None) -> None:
        super().__init__()
        self._token = token
        self._auth_rejected = False
        self._ts = itertools.count(1)
        self._ts_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """Web API base URL for ``AsyncWebClient(base_url=...)``; ends with ``/``."""
        return f"{self.origin}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.origin}{self.webhook_path}"

    def reject_auth(self) -> None:
        """Answer every API call with ``invalid_auth`` (webhooks with 403) until reset()."""
        with self._lock:
            self._auth_rejected = True

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._auth_rejected = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Bodies of the messages Slack accepted (postMessage and webhook), in order."""
        return [r.body for r in self.requests if _accepted(r)]

    # request handling ------------------------------------------------------------------

    def _parse(self, path: str, headers: dict[str, str], raw: bytes) -> Any:
        if not raw:
            return {}
        ctype = headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            form: dict[str, Any] = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            for name in _JSON_FORM_FIELDS & form.keys():
                form[name] = json.loads(form[name])
            return form
        return json.loads(raw)

    def _answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        route = urlsplit(path).path
        if not isinstance(body, dict):
            return Reply(400, b"invalid_payload", "text/plain; charset=utf-8")
        if route.startswith("/services/"):
            return self._webhook(route, body)
        if route.startswith("/api/"):
            return self._api(route.removeprefix("/api/"), headers, body)
        return Reply(404, b"not_found", "text/plain; charset=utf-8")

    def _api(self, api_method: str, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        token = token or str(body.get("token", ""))
        with self._lock:
            rejected = self._auth_rejected
        if not token:
            return _api_reply({"ok": False, "error": "not_authed"})
        if rejected or (self._token is not None and token != self._token):
            return _api_reply({"ok": False, "error": "invalid_auth"})
        if api_method == "auth.test":
            return _api_reply({"ok": True, "team": "T", "user": "ykmake", "bot_id": "B"})
        if api_method != "chat.postMessage":
            return _api_reply({"ok": False, "error": "unknown_method"}, status=404)
        channel = body.get("channel")
        if not channel:
            return _api_reply({"ok": False, "error": "channel_not_found"})
        if not any(body.get(k) for k in ("text", "blocks", "attachments")):
            return _api_reply({"ok": False, "error": "no_text"})
        with self._ts_lock:
            ts = f"1700000000.{next(self._ts):06d}"
        message = {k: body[k] for k in ("text", "blocks", "attachments") if k in body}
        return _api_reply({"ok": True, "channel": channel, "ts": ts, "message": message})

    def _webhook(self, route: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            rejected = self._auth_rejected
        if route != self.webhook_path:
            return _text_reply(404, "no_service")
        if rejected:
            return _text_reply(403, "invalid_token")
        if not any(body.get(k) for k in ("text", "blocks", "attachments")):
            return _text_reply(400, "no_text")
        return _text_reply(200, "ok")

    def _failure_reply(self, path: str, status: int, error: str | None) -> Reply:
        if urlsplit(path).path.startswith("/services/"):
            default = _WEBHOOK_ERRORS.get(status, "internal_error")
            return _text_reply(status, error or default)
        if status >= 500 and error is None:
            # Slack's front end answers 5xx with an HTML page, not the API's JSON.
            page = f"<html><body><h1>{status} Service Unavailable</h1></body></html>"
            return Reply(status, page.encode(), "text/html; charset=utf-8")
        default = _API_ERRORS.get(status, "internal_error" if status >= 500 else "invalid_request")
        return _api_reply({"ok": False, "error": error or default}, status=status)


def _accepted(request: RecordedRequest) -> bool:
    # A 200 can still be {"ok": false}: only count what the fake accepted.
    if request.status != 200:
        return False
    if request.path.startswith("/services/"):
        return request.response == b"ok"
    if not request.path.startswith("/api/chat.postMessage"):
        return False
    return bool(json.loads(request.response).get("ok"))


def _api_reply(payload: dict[str, Any], *, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def _text_reply(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), "text/plain; charset=utf-8")
