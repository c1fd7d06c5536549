"""Route templates for the ``path`` label, read from what the router already matched.

Starlette (>= 0.3x) and FastAPI put the matched route in ``scope["route"]``; reading it costs
a dict lookup, where matching again (as starlette-exporter does) costs one regex per route.
The template of a route object is worked out once and remembered:

* Mounted routes get the templates of the mounts above them (``/users/{uid}/posts``), found
  by walking the app's route tree from ``scope["router"]``; the served ``root_path`` would
  give ``/users/42/posts``, one series per user. Only a route that can't be found there (or
  is reachable through several mounts) falls back to the ``root_path`` prefix.
* FastAPI sets ``scope["route"]`` only for its own ``APIRoute``: a route added with plain
  ``add_route`` (FastAPI's ``/docs`` and ``/openapi.json`` too) leaves just
  ``scope["endpoint"]``. Such routes are found by their endpoint; only an endpoint served by
  several routes is matched again, among those routes only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from starlette.routing import Match, Mount
from starlette.types import Scope

__all__ = ["UNMATCHED", "is_fixed", "route_template"]

UNMATCHED: Final = "unmatched"
_MAX_CACHED: Final = 10_000  # routes are finite; this only guards odd apps
_MAX_DEPTH: Final = 8
# id(route) -> (route, template, or None to use the root_path prefix); the route is kept to
# check identity, as ids are reused.
_cache: dict[int, tuple[Any, str | None]] = {}
# id(endpoint) -> (endpoint, the routes serving it) for routes FastAPI leaves unnamed.
_by_endpoint: dict[int, tuple[Any, tuple[Any, ...]]] = {}


def _own_template(route: Any) -> str:
    if isinstance(route, Mount):  # its path_format already ends in "/{path}"
        return route.path.rstrip("/") + "/{path:path}"
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _walk(routes: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[Any, str]]:
    """``(route, template of the mounts above it)`` for every route under ``routes``."""
    for route in routes or ():
        yield route, prefix
        if depth < _MAX_DEPTH and isinstance(route, Mount):
            yield from _walk(getattr(route, "routes", ()), prefix + route.path, depth + 1)


def _tree_template(scope: Scope, route: Any) -> str | None:
    """The full template when ``route`` sits exactly once in the app's route tree."""
    router = scope.get("router")
    prefixes = [p for r, p in _walk(getattr(router, "routes", ())) if r is route]
    own = _own_template(route)
    if len(prefixes) != 1 or own == UNMATCHED:
        return None if own != UNMATCHED else UNMATCHED
    return prefixes[0] + own


def _routes_for(scope: Scope, endpoint: Any) -> tuple[Any, ...]:
    hit = _by_endpoint.get(id(endpoint))
    if hit is not None and hit[0] is endpoint:
        return hit[1]
    routes = getattr(scope.get("router"), "routes", ())
    found = tuple(r for r, _ in _walk(routes) if getattr(r, "endpoint", None) is endpoint)
    if found and len(_by_endpoint) < _MAX_CACHED:  # not found: maybe added later, look again
        _by_endpoint[id(endpoint)] = (endpoint, found)
    return found


def _route_by_endpoint(scope: Scope) -> Any:
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return None
    routes = _routes_for(scope, endpoint)
    if len(routes) == 1:
        return routes[0]
    partial = None
    for route in routes:  # one endpoint behind several paths: only these are matched again
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def _root_prefixed(scope: Scope, route: Any) -> str:
    if isinstance(route, Mount):  # root_path holds what it matched itself, maybe with values
        return _own_template(route)
    root = scope.get("root_path", "")
    prefix = root[len(scope.get("app_root_path", root)) :] if root else ""
    return prefix + _own_template(route)


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``unmatched`` when none did)."""
    route = scope.get("route")
    if route is None:
        route = _route_by_endpoint(scope)
        if route is None:
            return UNMATCHED
    hit = _cache.get(id(route))
    if hit is None or hit[0] is not route:
        hit = (route, _tree_template(scope, route))
        if len(_cache) < _MAX_CACHED:
            _cache[id(route)] = hit
    return hit[1] if hit[1] is not None else _root_prefixed(scope, route)


def is_fixed(route: Any) -> bool:
    """Whether the template :func:`route_template` gave for ``route`` is the same for every
    request it serves (it is, unless no single place in the route tree fixes it and the
    request's ``root_path`` decides)."""
    hit = _cache.get(id(route))
    return hit is not None and hit[0] is route and hit[1] is not None
