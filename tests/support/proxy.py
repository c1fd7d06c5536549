"""A TCP proxy a test controls: it forwards bytes both ways until frozen, then holds them.

Frozen, it neither reads nor writes and closes nothing, and it still accepts connections: to
its clients the server behind it hangs, as a PostgreSQL stopped with SIGSTOP does (its kernel
still accepts and acknowledges). Thawed, whatever waited flows on. One thread, stopped by
:meth:`FreezableProxy.close`.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType

__all__ = ["FreezableProxy"]


class FreezableProxy:
    """Listens on a free loopback port (``port``) and forwards to ``upstream``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._frozen = False  # as the proxy thread applies it
        self._want_frozen = False
        self._applied = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    def __enter__(self) -> FreezableProxy:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def freeze(self) -> None:
        """Stop forwarding; returns once no byte moves any more."""
        self._switch(frozen=True)

    def thaw(self) -> None:
        """Forward again, what waited first."""
        self._switch(frozen=False)

    def _switch(self, *, frozen: bool) -> None:
        self._applied.clear()
        self._want_frozen = frozen
        if not self._applied.wait(5.0):
            msg = "the proxy thread did not switch within 5 s"
            raise RuntimeError(msg)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        for sock in list(self._peers):
            sock.close()
        self._peers.clear()
        self._selector.close()
        self._listener.close()

    # -- the proxy thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if self._want_frozen != self._frozen:
                self._frozen = self._want_frozen
                for sock in self._peers:
                    self._watch(sock, watched=not self._frozen)
                self._applied.set()
            for key, _ in self._selector.select(timeout=0.02):
                if key.fileobj is self._listener:
                    self._accept()
                elif isinstance(key.fileobj, socket.socket):
                    self._pump(key.fileobj)

    def _watch(self, sock: socket.socket, *, watched: bool) -> None:
        if watched:
            self._selector.register(sock, selectors.EVENT_READ)
        else:
            self._selector.unregister(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        client.setblocking(True)
        server = socket.create_connection(self._upstream, timeout=5.0)
        server.settimeout(None)
        self._peers[client], self._peers[server] = server, client
        if not self._frozen:  # frozen: the connection is open, nothing moves on it yet
            self._watch(client, watched=True)
            self._watch(server, watched=True)

    def _pump(self, sock: socket.socket) -> None:
        peer = self._peers.get(sock)
        if peer is None:  # closed with its peer earlier in this round of events
            return
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        for end in (sock, peer):  # one side closed: close the other
            self._watch(end, watched=False)
            del self._peers[end]
            end.close()
