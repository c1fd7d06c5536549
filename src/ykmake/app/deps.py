"""FastAPI dependencies: the request path's database and the bearer-token user.

Both are async: a sync dependency would take one of anyio's shared threads just to wait,
and a session held across the request would keep its connection while the request waits
for anything else. Database work goes through :class:`RequestDatabase`, one call each.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ykmake.app.models import User
from ykmake.app.request_db import RequestDatabase
from ykmake.app.users import find_user_by_token
from ykmake.monitoring.logs.lines import bind_request_context

__all__ = ["CurrentUser", "Database"]


async def get_database(request: Request) -> RequestDatabase:
    database: RequestDatabase = request.app.state.database
    return database


Database = Annotated[RequestDatabase, Depends(get_database)]

# Reads the header and names the scheme in the OpenAPI document; the 401s are ours.
_bearer = HTTPBearer(
    scheme_name="userToken", description="an API token from `ykmake users create`", auto_error=False
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def current_user(request: Request, database: Database, credentials: Credentials) -> User:
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    user = await database.run(find_user_by_token, token)
    if user is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    bind_request_context(user_id=user.id)
    active = getattr(request.app.state, "active_users", None)
    if active is not None:
        active.seen(user.id)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
