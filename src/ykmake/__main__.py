"""``python -m ykmake``: the same as the ``ykmake`` command."""

from __future__ import annotations

from ykmake.cli import main

main()
