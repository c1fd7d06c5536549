"""YAML that reads well in review: block style, keys in given order, ``|`` for multi-line text."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import yaml

__all__ = ["dump_yaml"]


class _Dumper(yaml.SafeDumper):
    """A SafeDumper that indents lists under their key, as hand-written Prometheus configs do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
# str enums (the alert vocabulary's Severity) are written as their plain value.
_Dumper.add_multi_representer(StrEnum, lambda dumper, value: _str(dumper, str(value)))


def dump_yaml(data: Any, *, header: str = "") -> str:
    """Dump ``data`` as block YAML, prefixed by ``header`` (each line becomes a ``#`` comment)."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return lines + body
