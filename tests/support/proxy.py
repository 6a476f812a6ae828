"""A small HTTP CONNECT proxy of the test suite's own, on a free loopback port.

It runs in threads of the test process and records every request it gets.  Its
``mode`` scripts it: ``tunnel`` (a working proxy: optional Basic authentication,
a list of allowed ports, 502 when the target does not accept the connection),
``silent`` (accepts, reads the request, never answers), ``not_http`` (answers
like an SSH server) and ``endless_head`` (a status line, then header lines that never
end, until the client gives up).  Tunnels go to loopback addresses only: any other
destination is refused with 403.
"""

from __future__ import annotations

import base64
import contextlib
import selectors
import socket
import socketserver
import threading
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import attrs

HOST = "127.0.0.1"
MAX_HEAD = 64 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@attrs.frozen
class Request:
    """One request the proxy received."""

    line: str
    headers: Mapping[str, str]

    @property
    def authority(self) -> str:
        """``host:port`` of a ``CONNECT`` request."""
        return self.line.split(" ")[1] if self.line.count(" ") >= 2 else ""

    @property
    def port(self) -> int:
        """The port asked for."""
        return int(self.authority.rsplit(":", 1)[1])


class ConnectProxy:
    """The proxy; use it as a context manager (it stops and closes every tunnel on exit)."""

    def __init__(
        self,
        *,
        mode: str = "tunnel",
        users: Mapping[str, str] | None = None,
        challenge: str = 'Basic realm="test proxy"',
        allowed_ports: Collection[int] | None = None,
    ) -> None:
        assert mode in ("tunnel", "silent", "not_http", "endless_head"), mode
        self.mode = mode
        self.users = dict(users or {})
        self.challenge = challenge
        self.allowed_ports = None if allowed_ports is None else set(allowed_ports)
        self.requests: list[Request] = []
        self.sent_head_bytes = 0
        self.stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self.server = socketserver.ThreadingTCPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, user: str | None = None) -> str:
        """``http://[user@]127.0.0.1:PORT``."""
        return f"http://{user + '@' if user else ''}{HOST}:{self.port}"

    @property
    def connects(self) -> list[Request]:
        """The ``CONNECT`` requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.line.startswith("CONNECT ")]

    # -- serving ---------------------------------------------------------------------

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        request = _read_head(client)
        if request is None:
            return
        with self._lock:
            self.requests.append(request)
        if self.mode == "silent":
            self.stopping.wait()
            return
        if self.mode == "not_http":
            client.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            return
        if self.mode == "endless_head":
            self.sent_head_bytes = _endless_head(client, self.stopping)
            return
        answer, upstream = self._decide(request)
        if upstream is None:
            client.sendall(answer)
            return
        self._track(upstream)
        client.sendall(answer)
        _relay(client, upstream, self.stopping)

    def _decide(self, request: Request) -> tuple[bytes, socket.socket | None]:
        if not request.line.startswith("CONNECT "):
            return _answer(405, "Method Not Allowed"), None
        if self.users and not self._authorized(request.headers.get("proxy-authorization")):
            extra = f"Proxy-Authenticate: {self.challenge}\r\n"
            return _answer(407, "Proxy Authentication Required", extra), None
        host, _, port_text = request.authority.rpartition(":")
        host = host.strip("[]")
        if host not in _LOOPBACK_NAMES and not host.startswith("127."):
            return _answer(403, "Forbidden"), None
        port = int(port_text)
        if self.allowed_ports is not None and port not in self.allowed_ports:
            return _answer(403, "Forbidden"), None
        try:
            upstream = socket.create_connection((host, port), timeout=5.0)
        except OSError:
            return _answer(502, "Bad Gateway"), None
        return b"HTTP/1.1 200 Connection established\r\n\r\n", upstream

    def _authorized(self, header: str | None) -> bool:
        if header is None or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return self.users.get(user) == password

    # -- life ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, end every tunnel and silent wait."""
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _answer(status: int, reason: str, extra: str = "") -> bytes:
    body = f"{status} {reason}\n"
    return (
        f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}"
    ).encode()


def _endless_head(client: socket.socket, stopping: threading.Event) -> int:
    """Send a status line and header lines until the client closes; the bytes sent."""
    sent = 0
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    try:
        client.sendall(b"HTTP/1.1 200 Connection established\r\n")
        while not stopping.is_set() and sent < 64 * 1024 * 1024:
            client.sendall(line)
            sent += len(line)
    except OSError:
        pass
    return sent


def _read_head(client: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk or len(data) > MAX_HEAD:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    line, *rest = head.split("\r\n")
    headers: dict[str, str] = {}
    for item in rest:
        name, _, value = item.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(line, headers)


def _relay(a: socket.socket, b: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes (or the proxy stops)."""
    selector = selectors.DefaultSelector()
    peers = {a: b, b: a}
    for sock in peers:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    try:
        while not stopping.is_set():
            # The timeout only lets the loop see ``stopping``; nothing waits on it.
            for key, _ in selector.select(timeout=0.2):
                sock: Any = key.fileobj
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                if not data:
                    with contextlib.suppress(OSError):
                        peers[sock].shutdown(socket.SHUT_WR)
                    return
                peers[sock].setblocking(True)
                try:
                    peers[sock].sendall(data)
                except OSError:
                    return
                finally:
                    peers[sock].setblocking(False)
    finally:
        selector.close()
        for sock in peers:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def connect_proxy(**options: Any) -> Iterator[ConnectProxy]:
    """A running :class:`ConnectProxy` for the ``with`` block."""
    proxy = ConnectProxy(**options)
    try:
        yield proxy
    finally:
        proxy.close()
