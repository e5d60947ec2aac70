"""A TCP proxy that can refuse connections for a while: how fault tests make a shared
server (PostgreSQL) unreachable for the processes under test without stopping it for
everything else on the machine."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Self

from devservices import free_port
from devservices.process import Service


class RefusingProxy(Service):
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`refuse` drops every open
    connection and refuses new ones for a number of seconds, as a server that went away."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> Self:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse() or stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._open.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _close_all(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets = list(self._open)
        self._drop(*sockets)

    def refuse(self, seconds: float) -> None:
        """Reset every connection, refuse new ones for ``seconds``, then accept again."""
        self._close_all()
        time.sleep(seconds)
        if not self._stopped.is_set():
            self._listen()

    def stop(self) -> None:
        self._stopped.set()
        self._close_all()
