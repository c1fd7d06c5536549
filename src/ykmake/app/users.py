"""API tokens: shown once, stored as SHA-256 (they are random 256-bit values, so a fast hash
is enough; a password hash would only slow every authenticated request)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ykmake.app.models import User

__all__ = ["add_user", "create_user", "find_user_by_token", "hash_token"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(session: Session, name: str) -> tuple[User, str]:
    """Add a user, flushed but not committed (it has its id; a duplicate name raises
    IntegrityError now), with its API token: the caller shows the token, then commits."""
    token = "ykm_" + secrets.token_urlsafe(32)
    user = User(name=name, token_hash=hash_token(token))
    session.add(user)
    session.flush()
    return user, token


def create_user(session: Session, name: str) -> tuple[User, str]:
    """Create a user; returns it with its API token (the only time the token is seen)."""
    user, token = add_user(session, name)
    session.commit()
    return user, token


def find_user_by_token(session: Session, token: str) -> User | None:
    return session.scalar(select(User).where(User.token_hash == hash_token(token)))
