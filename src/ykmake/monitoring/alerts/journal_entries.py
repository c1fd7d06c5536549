"""Which journal entries the database already holds: each is replayed exactly once.

An entry's alert and its mark are committed in one transaction; the file is removed after.
A crash between the two leaves a file whose mark says "done", so the replay that follows
skips it instead of counting the occurrence twice. Marks are forgotten once their files are
gone (and after a week, for the rare one a crash left behind).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from ykmake.monitoring.alerts.models import JournalEntry

__all__ = ["already_applied", "forget", "mark_applied"]

_KEEP_STRAY_MARKS = timedelta(days=7)


def already_applied(session: Session, entry: str) -> bool:
    return session.get(JournalEntry, entry) is not None


def mark_applied(session: Session, entry: str, now: datetime) -> None:
    session.add(JournalEntry(entry=entry, applied_at=now))


def forget(session: Session, entries: Sequence[str], now: datetime) -> None:
    """Drop the marks of ``entries`` (their files are gone), and any mark a week old."""
    session.execute(
        delete(JournalEntry).where(
            or_(JournalEntry.entry.in_(entries), JournalEntry.applied_at < now - _KEEP_STRAY_MARKS)
        )
    )
