"""``ykmake users create`` as a real process: the token once, a hash in the database, any
name printed as written, and never a user whose token nobody saw."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli.support import clean_env, run_cli

pytestmark = pytest.mark.integration


def _env(tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "LOG_DIR": str(tmp_path / "logs")}


def _names(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "cli.db") as db:
        return [row[0] for row in db.execute("SELECT name FROM users ORDER BY id")]


def test_users_create_prints_the_token_once_and_stores_a_hash(tmp_path: Path) -> None:
    env = _env(tmp_path)
    result = run_cli(["users", "create", "alice"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created user alice (id 1)\n")
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ykm_")
    assert token.encode() not in (tmp_path / "cli.db").read_bytes()
    again = run_cli(["users", "create", "alice"], env, tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == "error: a user named 'alice' already exists"


def test_there_is_no_admin_flag(tmp_path: Path) -> None:
    result = run_cli(["users", "create", "alice", "--admin"], _env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert "No such option: --admin" in result.stderr


@pytest.mark.parametrize(
    "name", ["[bold]x[/]", "[/]", "[link=https://evil.example]click[/link]", "back\\", "é 🦊"]
)
def test_a_name_that_looks_like_markup_is_printed_as_written(tmp_path: Path, name: str) -> None:
    result = run_cli(["users", "create", name], _env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"created user {name} (id 1)"
    assert lines[-1].startswith("ykm_")
    assert _names(tmp_path) == [name]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("\x1b[2Jwiped", "error: a user name has no control characters, got '\\x1b[2Jwiped'"),
        ("a\rb", "error: a user name has no control characters, got 'a\\rb'"),
        ("x" * 101, "error: a user name is 1 to 100 characters, got 101"),
        ("", "error: a user name is 1 to 100 characters, got 0"),
    ],
)
def test_a_name_no_terminal_could_show_is_refused(tmp_path: Path, name: str, said: str) -> None:
    result = run_cli(["users", "create", name], _env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [said]
    assert "\x1b" not in result.stderr + result.stdout


def test_no_user_is_kept_when_its_token_could_not_be_printed(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # a pipe nobody reads: the first line printed fails (EPIPE)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ykmake", "users", "create", "alice"],
            env=clean_env(**_env(tmp_path)),
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: the token could not be printed (Broken pipe); user 'alice' not created"
    ]
    assert _names(tmp_path) == []
    # And the name is still free.
    assert run_cli(["users", "create", "alice"], _env(tmp_path), tmp_path).returncode == 0


def test_users_create_on_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = run_cli(["users", "create", "alice"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DATABASE_URL=")
    assert "unreachable" in lines[0]
