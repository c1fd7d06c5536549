"""Text from outside, printed through rich, can neither drive the terminal nor rich."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ykmake.cli._terminal_text import plain, visible


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("ok\rfake", "ok\\rfake"),
        ("back\x08", "back\\x08"),
        ("\x9b31m", "\\x9b31m"),
        ("\x00\x7f", "\\x00\\x7f"),
        ("\u202eevil\u2066", "\\u202eevil\\u2066"),
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("é 🦊 ナ", "é 🦊 ナ"),
    ],
)
def test_control_characters_become_visible_escapes(raw: str, seen: str) -> None:
    assert visible(raw) == seen


@pytest.mark.parametrize(
    "raw",
    ["[/]", "[bold]x[/]", "[link=https://evil.example]x[/link]", "ends in \\", "\x1b[bold]x"],
)
def test_markup_is_printed_as_written(raw: str) -> None:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(plain(f"name: {raw}", "bold"))
    assert out.getvalue() == f"name: {visible(raw)}\n"
