"""What every ``ykmake`` command shares: the consoles, the one-line error, the settings.

Nothing heavy is imported here: ``ykmake --help`` loads this module, so the settings (pydantic)
and the database layer are imported by the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ykmake.settings import Settings

__all__ = [
    "cli_settings",
    "command_group",
    "console",
    "counted",
    "err_console",
    "fail",
    "open_database_or_fail",
    "print_error",
]

# soft_wrap: messages and paths stay on one line, whatever the terminal's width.
console = Console(soft_wrap=True)  # what a command did: stdout, so it can be piped or saved
err_console = Console(stderr=True, soft_wrap=True)  # errors and progress


def command_group(help_text: str, *, name: str | None = None) -> typer.Typer:
    """A Typer app as every ``ykmake`` command group is built.

    Plain help (click's layout, no rich panels): typer's rich help puts a ``<bool>``, ``<str>``
    or ``<int range>`` beside every option, where an option's metavar (PORT, N, PATH) is all
    the help needs. Arguments are hidden from the help's list (it would show their type) and
    named in the command's own help instead, as click does. Without arguments, a group shows
    its help.
    """
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        # click stops at 80 columns and cuts the commands' summaries short ("...") there.
        context_settings={"max_content_width": 100},
    )


def counted(number: int, noun: str) -> str:
    """``1 file``, ``4 files``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, on one line."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """The error line, no traceback, and exit with ``code`` (2: bad input or settings)."""
    print_error(message)
    raise typer.Exit(code)


def cli_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``.env``); a bad value is one line, exit 2."""
    from ykmake.errors import SettingsError
    from ykmake.settings import load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))


def open_database_or_fail(settings: Settings, *, migrate: bool) -> Engine:
    """The service's database, checked (and migrated); unreachable is one line, exit 2."""
    from ykmake.app.db import open_database
    from ykmake.errors import StartupError

    try:
        return open_database(settings.database_url, migrate=migrate)
    except StartupError as exc:
        fail(str(exc))
