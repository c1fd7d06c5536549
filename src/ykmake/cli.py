"""``ykmake``: serve the service, manage users, alerts, dashboards and the local stack."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from ykmake.alerts_cli import alerts_app
from ykmake.dashboards.cli import dashboards_app
from ykmake.errors import SettingsError, StartupError
from ykmake.load import load_command
from ykmake.settings import Settings, load_settings
from ykmake.stack.cli import stack_app

app = typer.Typer(
    name="ykmake",
    help="YkMake: the reference service and its monitoring toolkit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(stack_app, name="stack")
app.add_typer(alerts_app, name="alerts")
app.command("load")(load_command)

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, no traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Run the YkMake service (migrations are applied on start)."""
    import uvicorn

    from ykmake.app.db import check_database, make_engine

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        check_database(engine)
    except StartupError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if workers > 1:
        from ykmake.monitoring.multiprocess import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings)
    if workers == 1 and not reload:
        from ykmake.app.main import create_app

        target: object = create_app(settings)
    else:
        target = "ykmake.app.asgi:app"  # each worker process builds its own app
    uvicorn.run(
        target,  # type: ignore[arg-type]
        host=host,
        port=port,
        reload=reload,
        workers=workers if not reload else None,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured only from TRUSTED_PROXIES
        server_header=False,
    )


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User (maker) name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Grant admin rights.")] = False,
) -> None:
    """Create a user and print its API token once."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from ykmake.app.db import make_engine, run_migrations
    from ykmake.app.users import create_user

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        run_migrations(engine)
        with Session(engine, expire_on_commit=False) as session:
            user, token = create_user(session, name, admin=admin)
    except IntegrityError:
        fail(f"a user named {name!r} already exists")
    finally:
        engine.dispose()
    console.print(f"created user [bold]{user.name}[/] (id {user.id}{', admin' if admin else ''})")
    console.print("API token (shown once, store it now):")
    typer.echo(token)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except (SettingsError, StartupError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


__all__ = ["app", "main"]
