"""Cut a long stack trace in the middle, where it says the least.

A Python traceback reads from the outside in: its first line says what it is, its end says
what failed (the exception line) and where (the innermost frames). What lies between is the
frames a reader skims. So a stack too long for its place keeps its first line(s) and as much
of its end as fits, whole lines only, with a line saying how many were cut::

    Traceback (most recent call last):
    … 37 lines cut …
      File "app/orders.py", line 88, in pay
        raise PaymentProviderError(reason)
    PaymentProviderError: card declined
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["cut_middle"]

_ELLIPSIS: Final = "…"
# The start gets at most an eighth of the room: past its first line it holds the outermost
# frames (the server, the middleware), the end holds what failed.
_HEAD_SHARE: Final = 8
_MARKER: Final = re.compile(r"… (\d+) lines? cut …")
_FRAME_BODY: Final = "    "  # a frame's source line and its ^^^ markers, under its File line
_MAX_FRAME_BODY: Final = 3


def cut_middle(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: unchanged when it fits, else its first line(s)
    and last lines around a "… N lines cut …" line. A line too long to keep whole is cut
    at its end, with "…"."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    room = limit - len(_marker(_count(lines))) - 2  # the longest marker, its two newlines
    if room < 2 or len(lines) < 2:
        return _cut_end(text, limit)
    head_room = max(room // _HEAD_SHARE, 1)
    head = _take(lines[:-1], head_room) or [_cut_end(lines[0], head_room)]
    rest = lines[len(head) :]
    tail_room = room - _size(head)
    tail = _take(rest[::-1], tail_room)[::-1]
    if not tail:  # even the last line alone is too long: its start says the most
        tail = [_cut_end(rest[-1], tail_room)]
    tail = _from_a_frame(tail)
    cut = _count(lines[len(head) : len(lines) - len(tail)])
    if cut == 0:  # no line left out, only shortened (each ends in "…")
        return "\n".join([*head, *tail])
    return "\n".join([*head, _marker(cut), *tail])


def _count(dropped: list[str]) -> int:
    """How many lines ``dropped`` stands for: a stack cut before (the stored one, cut again
    for Slack) has a marker, which stands for the lines it counts."""
    count = 0
    for line in dropped:
        earlier = _MARKER.fullmatch(line)
        count += int(earlier[1]) if earlier else 1
    return count


def _take(lines: list[str], room: int) -> list[str]:
    """Whole lines from the start of ``lines`` while they fit in ``room`` characters."""
    taken: list[str] = []
    used = -1  # n lines take n - 1 newlines
    for line in lines:
        if used + 1 + len(line) > room:
            break
        taken.append(line)
        used += 1 + len(line)
    return taken


def _from_a_frame(tail: list[str]) -> list[str]:
    """Without the source lines of a frame whose File line was cut: the end starts at a
    frame."""
    start = 0
    while start < min(len(tail) - 1, _MAX_FRAME_BODY) and tail[start].startswith(_FRAME_BODY):
        start += 1
    return tail[start:]


def _size(lines: list[str]) -> int:
    return sum(len(line) for line in lines) + len(lines)  # each with its newline


def _cut_end(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS[: max(limit, 0)]


def _marker(cut: int) -> str:
    return f"{_ELLIPSIS} {cut} line{'' if cut == 1 else 's'} cut {_ELLIPSIS}"
