"""The client's address, honouring X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["ClientIPResolver"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIPResolver:
    """Walk X-Forwarded-For right to left, skipping trusted proxies (the rightmost untrusted
    hop is the client; anything further left is client-controlled and can be forged)."""

    def __init__(self, trusted: Sequence[IPNetwork] = ()) -> None:
        self._trusted = tuple(trusted)
        self._cache: dict[str, bool] = {}

    def is_trusted(self, host: str) -> bool:
        hit = self._cache.get(host)
        if hit is None:
            try:
                addr = ipaddress.ip_address(host)
            except ValueError:
                hit = False
            else:
                hit = any(addr in net for net in self._trusted)
            if len(self._cache) < 4096:
                self._cache[host] = hit
        return hit

    def resolve(self, peer: str | None, forwarded_for: bytes | None) -> str | None:
        if peer is None or forwarded_for is None or not self._trusted or not self.is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop[:64]
        return hops[0][:64] if hops else peer
