"""Errors of the monitoring stack tooling.

Tree::

    YkmakeError
    └── StackError               something about deploy/ or the stack's processes is wrong
        ├── SloSpecError         deploy/slo.yml has a value outside what it accepts
        ├── MissingBinaryError   a binary (prometheus, amtool, …) is not on PATH
        └── ServiceStartError    a stack process exited or did not get ready in time
"""

from __future__ import annotations

from ykmake.errors import YkmakeError

__all__ = ["MissingBinaryError", "ServiceStartError", "SloSpecError", "StackError"]


class StackError(YkmakeError):
    """Something about deploy/ or the stack's processes is wrong."""


class SloSpecError(StackError):
    """The SLO definition has a value outside what it accepts."""


class MissingBinaryError(StackError):
    """A binary the stack needs is not on PATH; the message names the package to install."""


class ServiceStartError(StackError):
    """A stack process exited early or did not answer its readiness probe in time."""
