"""`.env.example` documents every setting, and the README's table does too."""

from __future__ import annotations

import re
from pathlib import Path

from ykmake.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _names() -> set[str]:
    return set(Settings.variable_names())


def test_every_setting_is_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert _names() <= documented, _names() - documented


def test_every_setting_is_in_the_readme_table() -> None:
    text = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", text, re.MULTILINE))
    assert _names() <= documented, _names() - documented


def test_env_example_loads(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text())
    settings = load_settings(_env_file=env)
    assert settings.environment == "development"
