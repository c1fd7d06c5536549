"""``ykmake``: serve the service, manage users, alerts, dashboards and the local stack.

One module per command group: :mod:`.serve`, :mod:`.users`, :mod:`.alerts`, :mod:`.load`,
:mod:`.stack`, :mod:`.dashboards`; what they share (the consoles, the one-line error, the
settings) is in :mod:`._shared`. The modules import only typer and rich at the top: the
database, the app and the alert stack are imported by the commands that use them, so
``ykmake --help`` and ``ykmake stack check`` stay light.

Exit codes: 0 done; 1 the command's work failed (a check, a delivery, a stack process); 2 bad
input or settings, or an unreachable database — one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys

from ykmake.cli._shared import command_group, print_error
from ykmake.cli.alerts import alerts_app
from ykmake.cli.dashboards import dashboards_app
from ykmake.cli.load import load_command
from ykmake.cli.serve import serve
from ykmake.cli.stack import stack_app
from ykmake.cli.users import users_app
from ykmake.errors import SettingsError, StartupError

__all__ = ["app", "main"]

app = command_group("YkMake: the reference service and its monitoring toolkit.", name="ykmake")
app.command("serve")(serve)
app.command("load")(load_command)
app.add_typer(users_app, name="users")
app.add_typer(alerts_app, name="alerts")
app.add_typer(stack_app, name="stack")
app.add_typer(dashboards_app, name="dashboards")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except (SettingsError, StartupError) as exc:  # raised outside a command's own checks
        print_error(str(exc))
        sys.exit(2)
