"""Build the Slack message for an alert: the seed's ``sendAlert`` layout, within Slack's limits.

Layout (one attachment coloured by severity, or green once resolved)::

    header   [SEVERITY] title                      (storm digest: "· occurred N times since …")
             [RESOLVED] title                      (the alert was resolved)
    section  message
    section  storm digest line                     (only for a digest)
    divider + section(s) "*key*: ```json```"      (only with details; a multi-line text such
                                                   as a stack as it reads, cut in the middle)
    divider
    context  *Service*: … | *Environment*: … | *Timestamp*: <!date^…>

Text never fails a limit: it is cut with "…", and details that do not fit the block budget
fold into a final "… N more details" section. Title, message and details are redacted
first (details on a copy), by key and by the shape of values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from ykmake.monitoring.alerts.stack_text import cut_middle
from ykmake.monitoring.alerts.vocabulary import RESOLVED_COLOR, RESOLVED_WORD, Severity
from ykmake.monitoring.logs.redaction import Redactor

__all__ = [
    "COLORS",
    "ELLIPSIS",
    "MAX_BLOCKS",
    "MAX_FALLBACK_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_SECTION_TEXT",
    "RESOLVED_COLOR",
    "RESOLVED_WORD",
    "build_message",
    "truncate",
]

COLORS: Final[Mapping[str, str]] = {
    Severity.INFO: "#36a64f",
    Severity.WARNING: "#ffcd3c",
    Severity.ERROR: "#e01e5a",
    Severity.CRITICAL: "#ff0000",
}
_UNKNOWN_COLOR: Final = "#9e9e9e"  # an unexpected severity still gets delivered, in grey

# Slack's documented limits (Block Kit reference, chat.postMessage).
MAX_HEADER_TEXT: Final = 150
MAX_SECTION_TEXT: Final = 3000
MAX_BLOCKS: Final = 50
MAX_FALLBACK_TEXT: Final = 4000
ELLIPSIS: Final = "…"

_MAX_LABEL: Final = 200  # service, environment, a detail key: keeps their lines < 3000
_MAX_DEPTH: Final = 32  # deeper (or cyclic) values are shown by repr
_JSON_OPTS: Final = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
_FENCE: Final = "```"
_CUT_ATTEMPTS: Final = 4  # escapes rarely lengthen a stack by much: two tries fit it
_PARTIAL_ENTITY: Final = re.compile(r"&(a|am|amp|l|lt|g|gt)?$")

_shapes_only: Final = Redactor()


def build_message(
    severity: str,
    title: str,
    message: str,
    details: Mapping[str, Any] | None,
    *,
    service: str,
    environment: str,
    timestamp: datetime,
    occurrences: int | None = None,
    digest_since: datetime | None = None,
    redactor: Redactor | None = None,
    resolved: bool = False,
) -> dict[str, Any]:
    """Return the ``chat.postMessage`` kwargs (minus ``channel``) for one alert.

    Args:
        severity: info, warning, error or critical (case-insensitive); picks the colour.
        service: SERVICE_NAME, in the context line.
        details: extra context; secrets are redacted, values rendered as JSON.
        timestamp: when the alert fired; naive datetimes are taken as UTC.
        occurrences, digest_since: set for a storm digest ("occurred N times since HH:MM").
        redactor: masks secrets in the title, message and details (by default the shapes
            of secrets only, without the configured secrets' values).
        resolved: the alert was resolved: ``[RESOLVED] title``, in green.
    """
    redactor = redactor or _shapes_only
    title, message = redactor.scrub(str(title)), redactor.scrub(str(message))
    level = str(severity).lower()
    label = f"[{RESOLVED_WORD if resolved else level.upper()}]"
    color = RESOLVED_COLOR if resolved else COLORS.get(level, _UNKNOWN_COLOR)
    digest = _digest_phrase(occurrences, digest_since, timestamp)
    clean_title = " ".join(str(title).split())

    blocks: list[dict[str, Any]] = [
        _header(label, clean_title, digest),
        _section(_escape(str(message)) or "_(no message)_"),
    ]
    if digest:
        blocks.append(_section(f":repeat: *Storm digest*: this alert {digest.mrkdwn()}."))
    footer = [{"type": "divider"}, _context(service, environment, timestamp)]
    if details:
        budget = MAX_BLOCKS - len(blocks) - len(footer) - 1  # -1: the divider before details
        blocks.append({"type": "divider"})
        blocks.extend(_detail_sections(redactor.redact(_plain(dict(details), 0)), budget))
    blocks.extend(footer)

    fallback = " ".join(p for p in (label, clean_title, f"({digest.text})" if digest else "") if p)
    if message:
        fallback = f"{fallback}: {message}"
    return {
        "text": truncate(_escape(fallback), MAX_FALLBACK_TEXT),
        "attachments": [{"color": color, "blocks": blocks}],
    }


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending in "…" when cut.

    Never leaves half an HTML entity (``&am``) behind, which Slack would show raw.
    """
    if len(text) <= limit:
        return text
    head = text[: max(limit - len(ELLIPSIS), 0)]
    head = _PARTIAL_ENTITY.sub("", head)
    return head + ELLIPSIS


# blocks ----------------------------------------------------------------------------------


class _Digest:
    """The storm wording: "occurred 57 times since 10:04 UTC"."""

    def __init__(self, occurrences: int | None, since: datetime | None, now: datetime) -> None:
        self.since = since
        if occurrences is None:
            self.times = "kept firing"
        else:
            self.times = f"occurred {occurrences} time{'' if occurrences == 1 else 's'}"
        self.text = self.times if since is None else f"{self.times} since {_short(since, now)}"

    def mrkdwn(self) -> str:
        """The same wording with a Slack date token, shown in the reader's time zone."""
        if self.since is None:
            return self.times
        epoch, iso = int(self.since.timestamp()), _iso(self.since)
        token = f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{iso}>"
        return f"{self.times} since {token}"


def _digest_phrase(
    occurrences: int | None, since: datetime | None, now: datetime
) -> _Digest | None:
    if occurrences is None and since is None:
        return None
    return _Digest(occurrences, None if since is None else _utc(since), _utc(now))


def _header(label: str, title: str, digest: _Digest | None) -> dict[str, Any]:
    suffix = f" · {digest.text}" if digest else ""
    # Cut the title, not the label or the count: those are what the reader needs.
    room = MAX_HEADER_TEXT - len(label) - 1 - len(suffix)
    text = f"{label} {truncate(title, max(room, 1))}" if title else label
    return {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate(text + suffix, MAX_HEADER_TEXT),
            "emoji": True,
        },
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def _context(service: str, environment: str, timestamp: datetime) -> dict[str, Any]:
    ts = _utc(timestamp)
    service_text = truncate(_escape(str(service)), _MAX_LABEL)
    env_text = truncate(_escape(str(environment)), _MAX_LABEL)
    when = f"<!date^{int(ts.timestamp())}^{{date_num}} {{time_secs}}|{_iso(ts)}>"
    text = f"*Service*: {service_text} | *Environment*: {env_text} | *Timestamp*: {when}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _detail_sections(safe: Mapping[str, Any], budget: int) -> list[dict[str, Any]]:
    """Pack ``*key*: ```json```` lines into sections of <= 3000 chars, within ``budget``."""
    entries = [_detail_entry(str(key), value) for key, value in safe.items()]
    texts: list[str] = []
    counts: list[int] = []  # entries per section, to say how many did not fit
    for entry in entries:
        if texts and len(texts[-1]) + 1 + len(entry) <= MAX_SECTION_TEXT:
            texts[-1] += "\n" + entry
            counts[-1] += 1
        else:
            texts.append(entry)
            counts.append(1)
    if len(texts) > budget:
        keep = max(budget - 1, 0)
        hidden = sum(counts[keep:])
        noun = "detail" if hidden == 1 else "details"
        texts = [*texts[:keep], f"{ELLIPSIS} {hidden} more {noun} not shown"]
    return [_section(t) for t in texts]


def _detail_entry(key: str, value: Any) -> str:
    prefix = f"*{truncate(_escape(key), _MAX_LABEL)}*: {_FENCE}"
    room = MAX_SECTION_TEXT - len(prefix) - len(_FENCE)
    if isinstance(value, str) and "\n" in value:  # a stack: as it reads, not as JSON
        return f"{prefix}{_text_block(value, room)}{_FENCE}"
    return f"{prefix}{truncate(_code(_to_json(value)), room)}{_FENCE}"


def _text_block(text: str, room: int) -> str:
    """Multi-line text with its newlines, cut in the middle (:mod:`.stack_text`) to fit
    ``room`` once escaped: the escapes lengthen it, so the cut is tried again a little
    shorter until it fits."""
    limit = room
    for _ in range(_CUT_ATTEMPTS):
        body = _code(cut_middle(text, limit))
        if len(body) <= room:
            return body
        limit -= len(body) - room
    return truncate(body, room)


def _code(text: str) -> str:
    """``text`` for a code block: escaped, and a fence inside it broken so the block stays
    closed."""
    return _escape(text).replace(_FENCE, "`\u200b`\u200b`")


def _to_json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_JSON_OPTS, default=repr).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. an int beyond 64 bits
        return repr(value)


def _plain(value: Any, depth: int) -> Any:
    """Copy containers (so redaction never touches the caller's data); keep leaves as is."""
    if depth > _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    return value


# text ------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Escape Slack's control characters, so "<!channel>" in an error can't ping anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _short(moment: datetime, now: datetime) -> str:
    if moment.date() == now.date():
        return f"{moment:%H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"
