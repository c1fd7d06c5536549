"""Post one Slack message and say, without raising, whether and when to try again.

Outcomes of :meth:`SlackSender.send`::

    DeliveryResult
      ok=True                          delivered
      ok=False, permanent=False        transient: timeout, connection error, 5xx, 429
                                       (retry_after set from a 429's Retry-After)
      ok=False, permanent=True         retrying cannot help: invalid_auth, channel_not_found,
                                       any other 4xx, a malformed message, not configured
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

__all__ = ["DEFAULT_API_URL", "DeliveryResult", "SlackSender"]

DEFAULT_API_URL: Final = "https://slack.com/api/"

# Web API errors that come back as {"ok": false} but clear up by themselves.
_TRANSIENT_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_MAX_ERROR: Final = 200


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one attempt; see the module docstring."""

    ok: bool
    retry_after: float | None = None
    permanent: bool = False
    error: str | None = None


_DELIVERED: Final = DeliveryResult(ok=True)


class SlackSender:
    """Send messages built by :mod:`.slack_message` to Slack.

    Token + channel use the Web API (``chat.postMessage``); otherwise ``webhook_url`` is
    used. Each send opens and closes its own HTTP session, so the sender is safe to use
    from any event loop and never leaves a socket open.

    Args:
        token: bot token (``xoxb-…``); never appears in a result or a log line.
        channel: channel id or name for the Web API.
        webhook_url: an incoming-webhook URL (also a secret).
        api_url: the Web API base URL; tests point it at a local fake.
        timeout: seconds for the whole request (connect + answer).
    """

    def __init__(
        self,
        token: str | None,
        channel: str | None,
        webhook_url: str | None,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
    ) -> None:
        self._token = token or None
        self._channel = channel or None
        self._webhook_url = webhook_url or None
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._timeout = timeout
        self._secrets = tuple(s for s in (self._token, self._webhook_url) if s)

    @property
    def configured(self) -> bool:
        """True when a token and a channel, or a webhook URL, are set."""
        return bool(self._token and self._channel) or bool(self._webhook_url)

    @property
    def mode(self) -> str:
        """ "web-api" (token + channel win), "webhook" or "off"."""
        if self._token and self._channel:
            return "web-api"
        return "webhook" if self._webhook_url else "off"

    @property
    def channel_key(self) -> str:
        """What a rate limit applies to, named without the webhook's secret:
        ``web-api:<channel>``, ``webhook:<digest of the URL>`` or ``off``."""
        if self.mode == "web-api":
            return f"web-api:{self._channel}"[:100]
        if self.mode == "webhook":
            digest = hashlib.sha256((self._webhook_url or "").encode()).hexdigest()[:24]
            return f"webhook:{digest}"
        return "off"

    def __repr__(self) -> str:
        # No token and no webhook URL: a repr ends up in logs.
        return (
            f"SlackSender(mode={self.mode!r}, channel={self._channel!r}, api_url={self._api_url!r})"
        )

    async def send(self, message: Mapping[str, Any]) -> DeliveryResult:
        """Post ``message`` (``text``/``attachments``/``blocks``); never raises.

        Cancellation still propagates: it is not a delivery outcome.
        """
        mode = self.mode
        if mode == "off":
            return DeliveryResult(ok=False, permanent=True, error="slack is not configured")
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as session:
                if mode == "web-api":
                    return await self._post(session, dict(message))
                return await self._post_webhook(session, dict(message))
        except SlackApiError as exc:
            return self._from_api_error(exc)
        except TimeoutError:  # aiohttp's timeout errors subclass it (asyncio's is the same class)
            return DeliveryResult(ok=False, error=f"timeout after {self._timeout:g}s")
        except aiohttp.InvalidURL:
            return DeliveryResult(ok=False, permanent=True, error="invalid slack url")
        except aiohttp.ClientError as exc:
            return DeliveryResult(ok=False, error=self._clean(f"connection error: {exc}"))
        except (SlackRequestError, TypeError, ValueError) as exc:
            # The message or the configuration is malformed: the same request would fail again.
            return DeliveryResult(
                ok=False, permanent=True, error=self._clean(f"bad request: {exc}")
            )
        except Exception as exc:  # noqa: BLE001 - send() never raises; the outbox retries later
            return DeliveryResult(ok=False, error=self._clean(f"{type(exc).__name__}: {exc}"))

    # The clients get retry_handlers=[]: slack_sdk's default handlers would retry connection
    # errors (and, if added, sleep through 429s) inside this call. The outbox worker owns
    # retrying with its own backoff, must see each 429 and its Retry-After, and must not
    # have a worker slot blocked by a hidden sleep.

    async def _post(
        self, session: aiohttp.ClientSession, message: dict[str, Any]
    ) -> DeliveryResult:
        client = AsyncWebClient(
            token=self._token,
            base_url=self._api_url,
            session=session,  # its ClientTimeout is the float timeout slack_sdk's int can't be
            retry_handlers=[],
        )
        await client.chat_postMessage(channel=self._channel or "", **message)
        return _DELIVERED  # chat_postMessage raises SlackApiError for anything but ok

    async def _post_webhook(
        self, session: aiohttp.ClientSession, message: dict[str, Any]
    ) -> DeliveryResult:
        client = AsyncWebhookClient(self._webhook_url or "", session=session, retry_handlers=[])
        response = await client.send_dict(message)
        if response.status_code == 200:
            return _DELIVERED
        return self._classify(response.status_code, response.headers, response.body or None)

    def _from_api_error(self, exc: SlackApiError) -> DeliveryResult:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        headers = getattr(response, "headers", None) or {}
        data = getattr(response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        if status == 200 and code in _TRANSIENT_ERRORS:
            return DeliveryResult(ok=False, error=self._clean(f"slack error: {code}"))
        return self._classify(status, headers, str(code) if code else None)

    def _classify(
        self, status: int, headers: Mapping[str, Any], reason: str | None
    ) -> DeliveryResult:
        if status == 200:
            error = self._clean(f"slack error: {reason}")
        else:
            error = self._clean(f"http {status}: {reason}" if reason else f"http {status}")
        if status == 429:
            return DeliveryResult(ok=False, retry_after=_retry_after(headers), error=error)
        transient = status >= 500 or status == 408
        return DeliveryResult(ok=False, permanent=not transient, error=error)

    def _clean(self, text: str) -> str:
        """Short, one line, and with the token and the webhook URL blanked out."""
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        text = " ".join(text.split())
        return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    """Seconds from a Retry-After header (Slack sends seconds); None if absent or unusable."""
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return None if seconds is None or seconds < 0 else seconds
