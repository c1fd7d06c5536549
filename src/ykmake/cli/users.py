"""``ykmake users``: create the service's users and print their API token once."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ykmake.cli._shared import cli_settings, command_group, console, fail, open_database_or_fail

__all__ = ["users_app"]

users_app = command_group("Manage users and their API tokens.")


@users_app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", hidden=True)],  # named in the help
    admin: Annotated[bool, typer.Option("--admin", help="Grant admin rights.")] = False,
) -> None:
    """Create user NAME (a maker) and print its API token once."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from ykmake.app.users import create_user

    settings = cli_settings()
    # Always migrated: the users table must exist, whatever DATABASE_AUTO_MIGRATE says.
    engine = open_database_or_fail(settings, migrate=True)
    try:
        with Session(engine, expire_on_commit=False) as session:
            user, token = create_user(session, name, admin=admin)
    except IntegrityError:
        fail(f"a user named {name!r} already exists")
    finally:
        engine.dispose()
    role = ", admin" if admin else ""
    console.print(
        f"created user [bold]{escape(user.name)}[/] (id {user.id}{role})", highlight=False
    )
    console.print("API token (shown once, store it now):")
    typer.echo(token)
