"""Text that came from outside (alert titles, messages, Slack errors, user names), made safe
to print on an operator's terminal through rich.

Two things could go wrong. Control characters reach the terminal as they are: an ESC sequence
can recolour, move the cursor, retitle the window or rewrite what was printed before (``\\r``,
backspace), and bidirectional overrides reorder what is shown. And rich reads ``[...]`` as
markup: ``[/]`` alone raises, ``[link=…]`` makes a link. :func:`visible` makes every such
character a visible escape (``\\x1b``, ``\\r``, ``\\u202e``); a line feed and a tab stay as
they are (messages have several lines). :func:`plain` wraps the result in a rich ``Text``, which
rich prints as it is, never parsing it for markup (escaping markup inside a markup string
instead gets a trailing backslash wrong).
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["plain", "visible"]

# C0 controls but \t and \n, DEL, C1 controls (8-bit CSI included), and the bidirectional
# embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_one(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # '\x1b', '\r', '\u202e', as Python writes them


def visible(value: object) -> str:
    """``value`` as text with every control character written as its escape."""
    return _UNSAFE.sub(_escape_one, str(value))


def plain(value: object, style: str = "") -> Text:
    """``value`` for rich: control characters visible, never read as markup."""
    return Text(visible(value), style=style)
