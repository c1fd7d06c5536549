"""FastAPI dependencies: a database session per request and the bearer-token user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ykmake.app.models import User
from ykmake.app.users import find_user_by_token
from ykmake.monitoring.logs.lines import bind_request_context

__all__ = ["CurrentUser", "DbSession"]


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]

# Reads the header and names the scheme in the OpenAPI document; the 401s are ours.
_bearer = HTTPBearer(
    scheme_name="userToken", description="an API token from `ykmake users create`", auto_error=False
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_user(request: Request, session: DbSession, credentials: Credentials) -> User:
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    user = find_user_by_token(session, token)
    if user is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    bind_request_context(user_id=user.id)
    active = getattr(request.app.state, "active_users", None)
    if active is not None:
        active.seen(user.id)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
