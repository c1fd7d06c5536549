"""Option help is plain: a metavar (PORT, N, PATH), never typer's ``<int range>``, and no list
of choices beside an option (it wraps the help onto the next line)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ykmake.cli import app

_TYPE_NOISE = re.compile(r"<[a-z][a-z |,\[\]]*>")


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    # typer ships its own click: a group is whatever has subcommands.
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*path, name))
    return paths


_PATHS = _command_paths(typer.main.get_command(app))


def test_every_command_is_reached() -> None:
    assert {" ".join(p) for p in _PATHS} >= {
        "serve",
        "load",
        "users create",
        "alerts list",
        "alerts test",
        "stack up",
        "stack check",
        "stack rules",
        "dashboards build",
        "dashboards check",
    }


@pytest.mark.parametrize("path", _PATHS, ids=lambda p: " ".join(p) or "ykmake")
def test_help_is_plain(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.output
    assert _TYPE_NOISE.findall(result.stdout) == []
    options = result.stdout.split("Options:")[1].split("Commands:")[0]
    # Choices are named in the help text, not listed beside the option as a|b|c.
    assert "|" not in options
