"""Fingerprints: what makes two alerts "the same" for storm control. (Errors have their own,
by kind: :mod:`ykmake.monitoring.errors.fingerprint`.)"""

from __future__ import annotations

import hashlib

__all__ = ["alert_fingerprint"]


def alert_fingerprint(source: str, severity: str, title: str, message: str) -> str:
    parts = (source, severity, title, message)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]
