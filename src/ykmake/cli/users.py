"""``ykmake users``: create the service's users and print their API token once.

A user is committed only once its token has been printed: a user whose token nobody saw could
never be used, and would hold its name. A name is printed as written, never read as rich
markup (``[/]`` is a fine name); one with control characters is refused.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ykmake.cli._shared import cli_settings, command_group, fail, open_database_or_fail
from ykmake.cli._terminal_text import visible

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["users_app"]

users_app = command_group("Manage users and their API tokens.")

_MAX_NAME = 100  # the users.name column


def name_problem(name: str) -> str | None:
    """Why ``name`` can't be a user's name; None when it can."""
    if not 1 <= len(name) <= _MAX_NAME:
        return f"a user name is 1 to {_MAX_NAME} characters, got {len(name)}"
    if visible(name) != name:
        return f"a user name has no control characters, got '{visible(name)}'"
    return None


@users_app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", hidden=True)],  # named in the help
) -> None:
    """Create user NAME (a maker) and print its API token once."""
    from sqlalchemy.orm import Session

    problem = name_problem(name)
    if problem is not None:
        fail(problem)
    settings = cli_settings()
    # Always migrated: the users table must exist, whatever DATABASE_AUTO_MIGRATE says.
    engine = open_database_or_fail(settings, migrate=True)
    try:
        with Session(engine, expire_on_commit=False) as session:
            _create(session, name)  # leaving the session without a commit rolls back
    finally:
        engine.dispose()


def _create(session: Session, name: str) -> None:
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    from ykmake.app.users import add_user

    try:
        user, token = add_user(session, name)
    except IntegrityError:
        fail(f"a user named '{name}' already exists")
    except SQLAlchemyError as exc:
        fail(f"user '{name}' could not be stored: {_first_line(exc)}", 1)
    try:
        # click's echo, not rich: the name meets no markup parser, and a broken pipe is an
        # OSError here (rich would exit on its own, before we could say what it means).
        typer.echo(f"created user {typer.style(user.name, bold=True)} (id {user.id})")
        typer.echo("API token (shown once, store it now):")
        typer.echo(token)
    except OSError as exc:  # stdout closed (a pipe whose reader left): nobody saw the token
        _drop_stdout()
        fail(
            f"the token could not be printed ({exc.strerror or exc}); user '{name}' not created", 1
        )
    try:
        session.commit()
    except SQLAlchemyError as exc:
        fail(f"user '{name}' was not created ({_first_line(exc)}): the token above is void", 1)


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the broken pipe would fail
    again at exit, as a second message after ours."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
