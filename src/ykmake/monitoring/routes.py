"""Route templates for the ``path`` label, read from what the router already matched.

Starlette (>= 0.3x) and FastAPI put the matched route in ``scope["route"]``; reading it costs
a dict lookup, where matching again (as starlette-exporter does) costs one regex per route.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.routing import Mount
from starlette.types import Scope

__all__ = ["UNMATCHED", "route_template"]

UNMATCHED: Final = "unmatched"
# id(route) -> (route, template); the route is kept to check identity, as ids are reused.
_cache: dict[tuple[int, str], tuple[Any, str]] = {}


def _template_of(route: Any, prefix: str) -> str:
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    if isinstance(route, Mount):
        path = path.rstrip("/") + "/{path:path}"
    return prefix + path


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``unmatched`` when none did)."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    root = scope.get("root_path", "")
    prefix = root[len(scope.get("app_root_path", root)) :] if root else ""
    key = (id(route), prefix)
    hit = _cache.get(key)
    if hit is not None and hit[0] is route:
        return hit[1]
    template = _template_of(route, prefix)
    if len(_cache) < 10_000:  # routes are finite; this only guards odd mounts
        _cache[key] = (route, template)
    return template
