"""Build the Slack message for an Alertmanager group: one message per notification, as
Alertmanager's own Slack receiver sends, however many alerts the group holds.

Layout (one attachment; the single-alert message's header convention and context line)::

    header   [SEVERITY] title              firing: the highest severity's colour
             [RESOLVED] title              every alert resolved: green
    section  *3 alerts firing* · 1 resolved
    section  • *other alertname* · instance=app:1, path=/x — summary     (one line per alert,
    …                                                                     packed into sections)
    section  +3,960 more
    section  *Resolved (1)* + its lines   (a firing group whose alerts partly resolved)
    divider
    context  *Service*: … | *Environment*: … | *Timestamp*: <!date^…>

The title comes from what the group's alerts share: ``alertname: summary`` when they share an
alert name (and a summary), else the labels they share. A line shows what sets its alert apart
from the others: the labels that are not common, and its summary. At most
:data:`MAX_LISTED_ALERTS` lines per list, each at most :data:`MAX_LINE`, sections under
Slack's 3,000 characters: a 4,000-alert group is a message of about twenty blocks.

Labels are redacted by key and every text by the shape of secrets before it is kept
(:meth:`GroupNotice.of`) and again when the message is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ykmake.monitoring.alerts.slack_message import (
    COLORS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    truncate,
)

# The single-alert message's escaping and context line: one layout for both kinds of message.
from ykmake.monitoring.alerts.slack_message import _context as _context_line
from ykmake.monitoring.alerts.slack_message import _escape as _escape
from ykmake.monitoring.alerts.vocabulary import RESOLVED_COLOR, RESOLVED_WORD, Severity
from ykmake.monitoring.logs.redaction import Redactor

__all__ = [
    "MAX_LINE",
    "MAX_LISTED_ALERTS",
    "GroupNotice",
    "GroupedAlert",
    "build_group_message",
    "group_title",
]

MAX_LISTED_ALERTS: Final = 40  # per list (firing, resolved): a screenful, not a scroll
MAX_LINE: Final = 300
_SECTION_ROOM: Final = MAX_SECTION_TEXT - 100  # well inside Slack's limit
_UNKNOWN_COLOR: Final = "#9e9e9e"
_shapes_only: Final = Redactor()


@dataclass(frozen=True, slots=True)
class GroupedAlert:
    """One alert of a group, as its line shows it."""

    severity: str
    labels: Mapping[str, str]
    summary: str = ""


@dataclass(frozen=True)
class GroupNotice:
    """What a group message says: the group as it was when it was queued.

    ``firing``/``resolved`` hold the alerts listed (at most :data:`MAX_LISTED_ALERTS` once
    :meth:`trimmed`); ``firing_total``/``resolved_total`` count them all; ``severity`` is the
    highest among all the firing ones.
    """

    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    firing: Sequence[GroupedAlert]
    resolved: Sequence[GroupedAlert] = ()
    firing_total: int = 0
    resolved_total: int = 0
    severity: str = Severity.INFO
    group_key: str = ""
    at: datetime | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        common_labels: Mapping[str, str],
        common_annotations: Mapping[str, str],
        firing: Sequence[GroupedAlert],
        resolved: Sequence[GroupedAlert] = (),
        *,
        group_key: str = "",
        at: datetime | None = None,
        redactor: Redactor | None = None,
    ) -> GroupNotice:
        """The notice of a whole group, trimmed to what its message lists, redacted."""
        redactor = redactor or _shapes_only
        return cls(
            _redacted_map(common_labels, redactor),
            _redacted_map(common_annotations, redactor),
            [_redacted(a, redactor) for a in firing[:MAX_LISTED_ALERTS]],
            [_redacted(a, redactor) for a in resolved[:MAX_LISTED_ALERTS]],
            firing_total=len(firing),
            resolved_total=len(resolved),
            severity=highest_severity(a.severity for a in firing),
            group_key=group_key,
            at=at,
        )

    @property
    def all_resolved(self) -> bool:
        return self.firing_total == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "common_labels": dict(self.common_labels),
            "common_annotations": dict(self.common_annotations),
            "firing": [_alert_json(a) for a in self.firing],
            "resolved": [_alert_json(a) for a in self.resolved],
            "firing_total": self.firing_total,
            "resolved_total": self.resolved_total,
            "severity": self.severity,
            "group_key": self.group_key,
            "at": self.at.isoformat() if self.at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupNotice:
        at = data.get("at")
        return cls(
            dict(data.get("common_labels") or {}),
            dict(data.get("common_annotations") or {}),
            [_alert_of(a) for a in data.get("firing") or ()],
            [_alert_of(a) for a in data.get("resolved") or ()],
            firing_total=int(data.get("firing_total", 0)),
            resolved_total=int(data.get("resolved_total", 0)),
            severity=str(data.get("severity", Severity.INFO)),
            group_key=str(data.get("group_key", "")),
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )


def highest_severity(severities: Iterable[str]) -> str:
    """The loudest of ``severities`` (ours; anything else counts as warning); info if none."""
    ranks = [_severity(s) for s in severities]
    return str(max(ranks, key=lambda s: s.rank)) if ranks else str(Severity.INFO)


def group_title(common_labels: Mapping[str, str], common_annotations: Mapping[str, str]) -> str:
    """``alertname: summary`` from what the alerts share; else the labels they share."""
    name = common_labels.get("alertname", "").strip()
    summary = common_annotations.get("summary", "").strip()
    if name:
        return f"{name}: {summary}" if summary else name
    if summary:
        return summary
    shared = ", ".join(f"{k}={v}" for k, v in sorted(common_labels.items()) if k != "severity")
    return f"Alerts with {shared}" if shared else "Alertmanager alerts"


def build_group_message(
    notice: GroupNotice,
    *,
    service: str,
    environment: str,
    timestamp: datetime,
    redactor: Redactor | None = None,
) -> dict[str, Any]:
    """Return the ``chat.postMessage`` kwargs (minus ``channel``) for one group notification.

    Args:
        notice: the group as it was when the notification was queued.
        service, environment: in the context line.
        timestamp: when Alertmanager sent the group; naive datetimes are taken as UTC.
        redactor: masks secrets again (by default the shapes of secrets only).
    """
    redactor = redactor or _shapes_only
    resolved_group = notice.all_resolved
    word = RESOLVED_WORD if resolved_group else str(notice.severity).upper()
    title = group_title(notice.common_labels, notice.common_annotations)
    title = " ".join(redactor.scrub(title).split())
    counts = _counts(notice)
    blocks: list[dict[str, Any]] = [_header(f"[{word}]", title), _section(f"*{counts}*")]
    if not resolved_group:
        blocks.extend(_listed(notice.firing, notice.firing_total, notice, redactor))
    if notice.resolved_total:
        if not resolved_group:
            blocks.append(_section(f"*Resolved ({notice.resolved_total:,})*"))
        blocks.extend(_listed(notice.resolved, notice.resolved_total, notice, redactor))
    blocks += [{"type": "divider"}, _context_line(service, environment, timestamp)]
    color = RESOLVED_COLOR if resolved_group else COLORS.get(notice.severity, _UNKNOWN_COLOR)
    fallback = f"[{word}] {title} ({counts})"
    return {
        "text": truncate(_escape(fallback), MAX_FALLBACK_TEXT),
        "attachments": [{"color": color, "blocks": blocks}],
    }


# blocks ----------------------------------------------------------------------------------


def _counts(notice: GroupNotice) -> str:
    if notice.all_resolved:
        return _plural(notice.resolved_total, "alert") + " resolved"
    text = _plural(notice.firing_total, "alert") + " firing"
    return f"{text} · {notice.resolved_total:,} resolved" if notice.resolved_total else text


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _header(label: str, title: str) -> dict[str, Any]:
    # Cut the title, not the label: the severity is what the reader needs first.
    room = max(MAX_HEADER_TEXT - len(label) - 1, 1)
    text = f"{label} {truncate(title, room)}" if title else label
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, _SECTION_ROOM)}}


def _listed(
    alerts: Sequence[GroupedAlert], total: int, notice: GroupNotice, redactor: Redactor
) -> list[dict[str, Any]]:
    """One line per listed alert, packed into sections, then "+N more" for the rest."""
    texts: list[str] = []
    for alert in alerts[:MAX_LISTED_ALERTS]:
        line = _line(alert, notice, redactor)
        if texts and len(texts[-1]) + 1 + len(line) <= _SECTION_ROOM:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    hidden = total - min(len(alerts), MAX_LISTED_ALERTS)
    if hidden > 0:
        texts.append(f"+{hidden:,} more")
    return [_section(text) for text in texts]


def _line(alert: GroupedAlert, notice: GroupNotice, redactor: Redactor) -> str:
    labels = redactor.redacted(dict(alert.labels))
    own = {k: v for k, v in labels.items() if notice.common_labels.get(k) != v}
    name = own.pop("alertname", "")
    parts = [f"*{_text(name, redactor)}*"] if name else []
    if own:
        parts.append(_text(", ".join(f"{k}={v}" for k, v in sorted(own.items())), redactor))
    text = " · ".join(parts) or "_(no labels of its own)_"
    if alert.summary and alert.summary != notice.common_annotations.get("summary"):
        text = f"{text} — {_text(alert.summary, redactor)}"  # the title has a common one
    return "• " + truncate(text, MAX_LINE)


def _text(value: str, redactor: Redactor) -> str:
    """One line of mrkdwn: secrets masked, whitespace folded, Slack's controls escaped."""
    return _escape(" ".join(redactor.scrub(str(value)).split()))


# data ------------------------------------------------------------------------------------


def _severity(value: str) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        return Severity.WARNING


def _redacted_map(values: Mapping[str, str], redactor: Redactor) -> dict[str, str]:
    clean = redactor.redacted(dict(values))
    return {str(k): redactor.scrub(str(v)) for k, v in clean.items()}


def _redacted(alert: GroupedAlert, redactor: Redactor) -> GroupedAlert:
    return GroupedAlert(
        alert.severity, _redacted_map(alert.labels, redactor), redactor.scrub(alert.summary)
    )


def _alert_json(alert: GroupedAlert) -> dict[str, Any]:
    return {"severity": alert.severity, "labels": dict(alert.labels), "summary": alert.summary}


def _alert_of(data: Mapping[str, Any]) -> GroupedAlert:
    labels = data.get("labels") or {}
    return GroupedAlert(
        str(data.get("severity", Severity.WARNING)),
        {str(k): str(v) for k, v in labels.items()},
        str(data.get("summary", "")),
    )
