"""Loopback servers that misbehave on purpose: plain sockets, one thread per connection.

:class:`LoopbackServer` listens on 127.0.0.1 (an ephemeral port) and hands every
accepted connection to a handler ``handler(conn, stopping)`` in its own daemon thread;
:meth:`LoopbackServer.stop` wakes every thread (the listening socket and each
connection are shut down) and joins them.  :class:`Lines` reads and writes CRLF lines
on a plain or TLS socket, for the FTP scripts.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket, threading.Event], None]
"""Serves one connection; returns (or raises OSError/ssl.SSLError) when it is done."""

IDLE_LIMIT = 60.0
"""Seconds a connection may stay silent before its thread gives up (a safety net only)."""


class LoopbackServer:
    """A TCP listener on 127.0.0.1 whose connections are served by ``handler`` in threads."""

    def __init__(self, handler: Handler, name: str = "") -> None:
        self.handler = handler
        self.name = name
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port: int = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.peers: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name=f"accept {name}", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            conn.settimeout(IDLE_LIMIT)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.peers.append(peer)
                self._connections.append(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self.stopping)
        except (OSError, ssl.SSLError, ValueError):
            pass  # the client went away or refused us: that is the point
        finally:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.close()

    def stop(self) -> None:
        """Stop accepting, wake and close every connection, wait for the threads."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            threads = list(self._threads)
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)


def drain(conn: socket.socket) -> None:
    """Read and discard until the peer closes."""
    while conn.recv(65536):
        pass


class Lines:
    """CRLF lines over a socket (plain, or TLS after :meth:`start_tls`), bounded in length."""

    MAX = 8192

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket = sock
        self.buffer = b""

    def send(self, line: str | bytes) -> None:
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.sock.sendall(data + b"\r\n")

    def readline(self) -> str | None:
        """The next line without its CRLF; None when the peer closed."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > self.MAX:
                return None
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS as the server (after ``234``)."""
        assert not self.buffer, "the client spoke before the TLS handshake"
        self.sock = context.wrap_socket(self.sock, server_side=True)
