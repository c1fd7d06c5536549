"""FastAPI dependencies: a database session per request and the bearer-token user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from ykmake.app.models import User
from ykmake.app.users import find_user_by_token
from ykmake.monitoring.logs.lines import bind_request_context

__all__ = ["CurrentUser", "DbSession"]


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def current_user(request: Request, session: DbSession) -> User:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    user = find_user_by_token(session, token.strip())
    if user is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    bind_request_context(user_id=user.id)
    active = getattr(request.app.state, "active_users", None)
    if active is not None:
        active.seen(user.id)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
