"""A TCP proxy on 127.0.0.1 that puts a network fault between the pipeline and a real server at a chosen request.

It forwards bytes unchanged (signatures stay valid) and watches what clients send for a pattern, such as the
request line of a PUT into a deliverable's version folder. On the ``trip_on``-th match it withholds that
request (the object is never stored), sets ``tripped`` and then, by ``action``: ``"hold"`` keeps every
connection open and silent (the client hangs, as behind a dead link, until ``close()``), ``"down"`` closes every
connection and the listening socket (the store is unreachable). Fault injection, not a mock: the server behind
it is the real one.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable

HOST = "127.0.0.1"


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream``; trip on the ``trip_on``-th request matching ``pattern``."""

    def __init__(
        self,
        upstream: tuple[str, int],
        pattern: bytes,
        *,
        trip_on: int = 1,
        action: str = "hold",
        on_trip: Callable[[], None] | None = None,
    ) -> None:
        self.upstream, self.pattern, self.trip_on, self.action = upstream, re.compile(pattern), trip_on, action
        self.on_trip = on_trip
        self.matches = 0
        self.tripped = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.tripped.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, watch: bool) -> None:
        tail = b""
        while True:
            try:
                chunk = source.recv(65536)
            except OSError:
                chunk = b""
            if not chunk or self.tripped.is_set():
                break
            if watch:
                window = tail + chunk
                new = sum(1 for m in self.pattern.finditer(window) if m.end() > len(tail))
                tail = window[-512:]
                if new and self._count(new):
                    self._trip()
                    return
            try:
                dest.sendall(chunk)
            except OSError:
                break
        if self.action != "hold" or not self.tripped.is_set():
            for sock in (source, dest):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _count(self, new: int) -> bool:
        with self._lock:
            before, self.matches = self.matches, self.matches + new
            return before < self.trip_on <= self.matches and not self.tripped.is_set()

    def _trip(self) -> None:
        self.tripped.set()
        if self.action == "down":  # first, so that retries meet a refused connection, as with a dead server
            self.close()
        if self.on_trip is not None:
            self.on_trip()

    def close(self) -> None:
        """Close the listener and every connection."""
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
