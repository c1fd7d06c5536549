"""``ykmake users create`` as a real process: the token once, a hash in the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli.support import run_cli

pytestmark = pytest.mark.integration


def test_users_create_prints_the_token_once_and_stores_a_hash(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    env = {"DATABASE_URL": f"sqlite:///{db}", "LOG_DIR": str(tmp_path / "logs")}
    result = run_cli(["users", "create", "alice", "--admin"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created user alice (id 1, admin)")
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ykm_")
    assert token.encode() not in db.read_bytes()
    again = run_cli(["users", "create", "alice"], env, tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == "error: a user named 'alice' already exists"


def test_users_create_on_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = run_cli(["users", "create", "alice"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DATABASE_URL=")
    assert "unreachable" in lines[0]
