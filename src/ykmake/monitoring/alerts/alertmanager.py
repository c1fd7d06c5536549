"""POST /api/alertmanager/webhook: Alertmanager's notifications become alerts here.

Alertmanager's webhook payload (version 4) is validated with pydantic. A payload is one
group (``groupKey``): each of its alerts is stored as any alert is, with Alertmanager's
fingerprint (prefixed ``am:``), and each resolved one resolves the live alert with that
fingerprint, but Slack hears of the group once: at most one message per call, queued in
the same outbox (:meth:`AlertService.record_group`; when a call is due a message is told in
:mod:`.group_store`). While the database is down, the alerts are taken one at a time as
before: firing ones go to the journal (each its own message later), resolving fails (503).

The whole payload is validated before anything is stored: a 4xx stores nothing.

Answers::

    200  {"received": N, "firing": F, "resolved": R, "unmatched": U, "spooled": S}
    400  {"error": "invalid_payload", "detail": "alerts.0.labels: Field required"}
    401  no or wrong bearer token (ALERTMANAGER_WEBHOOK_TOKEN)
    413  body over WEBHOOK_MAX_BODY_BYTES (by Content-Length, or counted while reading)
    503  the database could not resolve an alert: Alertmanager retries a 5xx
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import anyio
import anyio.to_thread
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ykmake.monitoring.alerts.json_values import JsonInteger, Rfc3339
from ykmake.monitoring.alerts.models import utcnow
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_group_message import GroupedAlert, GroupNotice
from ykmake.monitoring.alerts.vocabulary import AlertSource, Severity

__all__ = [
    "WEBHOOK_PATH",
    "AlertmanagerAlert",
    "AlertmanagerPayload",
    "AlertmanagerWebhook",
    "WebhookSummary",
    "WebhookUnavailable",
    "fingerprint_of",
    "group_key_of",
    "severity_of",
]

Guard = Callable[[Request], Response | None]

WEBHOOK_PATH: Final = "/api/alertmanager/webhook"
FINGERPRINT_PREFIX: Final = "am:"

# Alertmanager routing conventions seen in the wild, mapped onto our four severities.
_SEVERITY_ALIASES: Final = {
    **{severity.value: severity for severity in Severity},
    "page": Severity.CRITICAL,
    "ticket": Severity.WARNING,
}
_DEFAULT_SEVERITY: Final = Severity.WARNING


_NO_NUL: Final = "^[^\\u0000]*$"  # the documented form of _storable


def _storable(value: str) -> str:
    # PostgreSQL's text columns cannot hold NUL: refused here, the call is a 400 that stores
    # nothing, instead of an alert the database rejects (and the spool replays forever).
    if "\x00" in value:
        msg = "text must not contain NUL (\\u0000)"
        raise ValueError(msg)
    return value


def _text_map_schema(schema: dict[str, Any]) -> None:
    # pydantic documents a constrained key as patternProperties, which leaves any other key
    # unconstrained: say what is checked, every key and every value.
    schema.pop("patternProperties", None)
    schema["propertyNames"] = {"pattern": _NO_NUL}
    schema["additionalProperties"] = {"type": "string", "pattern": _NO_NUL}


Text = Annotated[str, AfterValidator(_storable), Field(json_schema_extra={"pattern": _NO_NUL})]
TextMap = Annotated[dict[Text, Text], Field(json_schema_extra=_text_map_schema)]


class AlertmanagerAlert(BaseModel):
    """One alert of the webhook payload."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: TextMap
    annotations: TextMap = Field(default_factory=dict)
    starts_at: Rfc3339 = Field(alias="startsAt")
    ends_at: Rfc3339 | None = Field(default=None, alias="endsAt")
    generator_url: Text = Field(default="", alias="generatorURL", max_length=4096)
    # Alertmanager's is 16 hex digits; the bound keeps "am:" + it inside the 128-char column.
    fingerprint: Text = Field(min_length=1, max_length=120)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: Literal["4"]
    receiver: str
    status: Literal["firing", "resolved"]
    alerts: list[AlertmanagerAlert]
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: JsonInteger = Field(default=0, ge=0, alias="truncatedAlerts")


class WebhookSummary(BaseModel):
    """What one call did: the 200's body."""

    received: int
    firing: int
    resolved: int
    unmatched: int = Field(description="resolved alerts with no live alert to resolve")
    spooled: int = Field(description="firing alerts kept in the disk spool (database down)")


class WebhookUnavailable(WebhookSummary):
    """The 503's body: a resolve failed in the database; Alertmanager retries."""

    error: Literal["store_unavailable"]
    detail: str


@dataclass
class Outcome:
    """What one webhook call did; the 200's body."""

    received: int = 0
    firing: int = 0
    resolved: int = 0
    unmatched: int = 0  # resolved alerts we had no live alert for
    spooled: int = 0  # firing alerts that went to the disk spool (database down)
    store_errors: int = 0

    def summary(self) -> dict[str, int]:
        return WebhookSummary(
            received=self.received,
            firing=self.firing,
            resolved=self.resolved,
            unmatched=self.unmatched,
            spooled=self.spooled,
        ).model_dump()


def severity_of(labels: dict[str, str]) -> Severity:
    """The ``severity`` label as one of ours: page → critical, ticket/unknown → warning."""
    value = labels.get("severity", "").strip().lower()
    return _SEVERITY_ALIASES.get(value, _DEFAULT_SEVERITY)


def fingerprint_of(alert: AlertmanagerAlert) -> str:
    return FINGERPRINT_PREFIX + alert.fingerprint


def group_key_of(payload: AlertmanagerPayload) -> str:
    """The group's identity: its receiver and ``groupKey`` (or, from a sender that leaves
    the key out, its group labels)."""
    key = payload.group_key or json.dumps(payload.group_labels, sort_keys=True)
    return f"{payload.receiver}\n{key}"


def grouped_alert(alert: AlertmanagerAlert) -> GroupedAlert:
    """The alert as its line in the group's message shows it."""
    summary = alert.annotations.get("summary", "").strip()
    return GroupedAlert(str(severity_of(alert.labels)), alert.labels, summary)


def alert_fields(alert: AlertmanagerAlert) -> dict[str, Any]:
    """``send_alert`` arguments for a firing Alertmanager alert."""
    name = alert.labels.get("alertname") or "Alertmanager alert"
    summary = alert.annotations.get("summary", "").strip()
    description = alert.annotations.get("description", "").strip()
    details: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": alert.starts_at.isoformat(),
    }
    if alert.generator_url:
        details["generatorURL"] = alert.generator_url
    return {
        "severity": severity_of(alert.labels),
        "title": f"{name}: {summary}" if summary else name,
        "message": description or summary or f"{name} is firing",
        "details": details,
    }


def describe_error(exc: ValidationError) -> str:
    """One line: the first problem with its location, and how many more there are."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{where}: {first['msg']}" if where else str(first["msg"])
    return text if len(errors) == 1 else f"{text} (and {len(errors) - 1} more)"


class _BodyTooLargeError(Exception):
    pass


class AlertmanagerWebhook:
    """The endpoint; built once per app by :func:`alertmanager_routes`.

    Args:
        service: the app's alert service.
        guard: returns the response refusing a request (no or a wrong bearer token), or None.
        max_body_bytes: the largest body read; anything larger is a 413.
        log: a structlog logger.
    """

    def __init__(
        self, service: AlertService, *, guard: Guard, max_body_bytes: int, log: Any
    ) -> None:
        self.service = service
        self._guard = guard
        self.max_body_bytes = max_body_bytes
        self.log = log
        # Not anyio's default thread limit, which an app's sync endpoints can take whole: the
        # alerts about an app in trouble must still be written.
        self._write_limiter = anyio.CapacityLimiter(2)

    async def _read_body(self, request: Request) -> bytes:
        """The body, never more than the limit in memory (else _BodyTooLargeError)."""
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                msg = f"Content-Length {declared[:40]!r} is not a number"
                raise ValueError(msg)
            if int(declared) > self.max_body_bytes:
                raise _BodyTooLargeError
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:  # chunked, or a Content-Length that lied
                raise _BodyTooLargeError
            chunks.append(chunk)
        return b"".join(chunks)

    async def handle(self, request: Request) -> Response:
        denied = self._guard(request)
        if denied is not None:
            return denied
        try:
            body = await self._read_body(request)
        except _BodyTooLargeError:
            detail = f"the body is larger than {self.max_body_bytes} bytes"
            return JSONResponse({"error": "payload_too_large", "detail": detail}, status_code=413)
        except ValueError as exc:
            return _invalid(str(exc))
        except ClientDisconnect:
            return _invalid("the client disconnected before the body was complete")
        try:
            payload = AlertmanagerPayload.model_validate_json(body)
        except ValidationError as exc:
            return _invalid(describe_error(exc))
        # Database writes in a worker thread: the event loop keeps serving requests.
        outcome = await anyio.to_thread.run_sync(self.apply, payload, limiter=self._write_limiter)
        self.log.info(
            "alertmanager webhook received",
            receiver=payload.receiver,
            group_key=payload.group_key,
            **outcome.summary(),
        )
        if payload.truncated_alerts:
            self.log.warning(
                "alertmanager truncated the alerts of a notification",
                truncated=payload.truncated_alerts,
            )
        if outcome.store_errors:
            unavailable = WebhookUnavailable(
                error="store_unavailable",
                detail="the alert store is unavailable; retry later",
                **outcome.summary(),
            )
            return JSONResponse(
                unavailable.model_dump(),
                status_code=503,
                headers={"Retry-After": "30"},
            )
        return JSONResponse(outcome.summary())

    def apply(self, payload: AlertmanagerPayload) -> Outcome:
        """Store firing alerts and resolve resolved ones (blocking; run it off the loop): the
        group together, or one at a time when the database is down."""
        if not payload.alerts:
            return Outcome()
        outcome = self._apply_group(payload)
        return outcome if outcome is not None else self._apply_each(payload)

    def _apply_group(self, payload: AlertmanagerPayload) -> Outcome | None:
        firing = [a for a in payload.alerts if a.status == "firing"]
        resolved = [a for a in payload.alerts if a.status == "resolved"]
        notice = GroupNotice.of(
            payload.common_labels,
            payload.common_annotations,
            [grouped_alert(a) for a in firing],
            [grouped_alert(a) for a in resolved],
            group_key=payload.group_key,
            at=utcnow(),
            redactor=self.service.redactor,
        )
        fields = [
            {
                **alert_fields(a),
                "source": AlertSource.ALERTMANAGER,
                "fingerprint": fingerprint_of(a),
            }
            for a in firing
        ]
        result = self.service.record_group(
            group_key_of(payload), fields, [fingerprint_of(a) for a in resolved], notice
        )
        if result is None:
            return None
        return Outcome(
            received=len(payload.alerts),
            firing=len(firing),
            resolved=result.resolved,
            unmatched=result.unmatched,
        )

    def _apply_each(self, payload: AlertmanagerPayload) -> Outcome:
        """The database is down: each firing alert to the journal (sent on its own once
        it is replayed), each resolve tried (a failure is the 503 Alertmanager retries)."""
        outcome = Outcome(received=len(payload.alerts))
        woke = False
        for alert in payload.alerts:
            fingerprint = fingerprint_of(alert)
            if alert.status == "firing":
                stored = self.service.send_alert(
                    **alert_fields(alert), source=AlertSource.ALERTMANAGER, fingerprint=fingerprint
                )
                outcome.firing += 1
                outcome.spooled += stored is None
                continue
            try:
                resolved = self.service.store.resolve_fingerprint(fingerprint)
            except Exception as exc:  # noqa: BLE001 - any database failure: answer 503, not 500
                self.log.error(
                    "alertmanager resolve failed", fingerprint=fingerprint, error=repr(exc)
                )
                outcome.store_errors += 1
                continue
            if resolved is None:
                outcome.unmatched += 1
            else:
                outcome.resolved += 1
                woke = True
        if woke and self.service.on_recorded is not None:
            self.service.on_recorded()  # a "resolved" message may be queued
        return outcome

    def routes(self, path: str = WEBHOOK_PATH) -> list[Route]:
        return [Route(path, self.handle, methods=["POST"], include_in_schema=False)]


def _invalid(detail: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_payload", "detail": detail}, status_code=400)
