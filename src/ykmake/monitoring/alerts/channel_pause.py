"""A channel's pause, kept in the database so every instance honours it.

Slack answers a 429 with ``Retry-After``: the limit is the channel's (or the webhook's), not
one message's. So the pause is stored once per channel, every pending notification's next
attempt is pushed past it (``ykmake alerts show`` tells the truth), and nothing is claimed
for the channel until it has passed — by this instance or any other on the same database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ykmake.monitoring.alerts.models import ChannelPause, Notification
from ykmake.monitoring.alerts.vocabulary import NotificationStatus

__all__ = ["pause", "paused_until"]


def pause(session: Session, channel: str, until: datetime) -> None:
    """Pause ``channel`` until ``until`` (a longer pause already recorded stays)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(ChannelPause).values(channel=channel, paused_until=until)
    later = case(
        (ChannelPause.paused_until < insert.excluded.paused_until, insert.excluded.paused_until),
        else_=ChannelPause.paused_until,
    )
    # One statement, so two instances rate-limited at once can't collide on the insert.
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[ChannelPause.channel], set_={"paused_until": later}
        )
    )
    session.execute(
        update(Notification)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at < until,
        )
        .values(next_attempt_at=until)
    )


def paused_until(session: Session, channel: str, now: datetime) -> datetime | None:
    """When ``channel``'s pause ends, if it has not yet."""
    until = session.scalar(select(ChannelPause.paused_until).where(ChannelPause.channel == channel))
    return until if until is not None and until > now else None
